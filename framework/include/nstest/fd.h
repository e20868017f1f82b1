// A move-only owner of a file descriptor.
#ifndef NSTEST_FD_H_
#define NSTEST_FD_H_

#include <string>

namespace nstest {

// Owns one file descriptor and closes it on destruction. Move-only.
// Never throws; a failed close() is ignored (the descriptor is gone either way).
class Fd {
 public:
  Fd() noexcept = default;
  explicit Fd(int fd) noexcept : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(other.release()) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }

  int get() const noexcept { return fd_; }
  bool valid() const noexcept { return fd_ >= 0; }
  explicit operator bool() const noexcept { return valid(); }

  // Gives up ownership without closing.
  int release() noexcept {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  // Closes the owned descriptor (if any) and takes ownership of `fd`.
  void reset(int fd = -1) noexcept;

 private:
  int fd_ = -1;
};

// Up to `max` bytes of what the file `fd` holds from offset `from` on, the last ones if there are
// more ("" if it cannot be read).
std::string ReadTail(int fd, size_t from, size_t max);
// The bytes of the file `fd` from offset `from` up to `to`.
std::string ReadRange(int fd, size_t from, size_t to);

}  // namespace nstest

#endif  // NSTEST_FD_H_
