// The exceptions thrown by the nstest library.
#ifndef NSTEST_ERROR_H_
#define NSTEST_ERROR_H_

#include <stdexcept>
#include <string>

namespace nstest {

// Base of everything the library throws. what() reads
// "<verb> <object 'name'> [in netns 'n']: <cause>".
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A failed system call; code() is the errno value.
class SystemError : public Error {
 public:
  SystemError(const std::string& what, int code);
  int code() const noexcept { return code_; }

 private:
  int code_;
};

// A failed netlink request through libnl; code() is libnl's own (positive) error code, and the
// message carries nl_geterror()'s text.
class NetlinkError : public Error {
 public:
  NetlinkError(const std::string& what, int nl_code);
  int code() const noexcept { return code_; }

 private:
  int code_;
};

// A deadline passed before an awaited event; the message says what was awaited and what was seen.
class TimeoutError : public Error {
 public:
  using Error::Error;
};

// Throws SystemError("<what>: <strerror(code)>", code).
[[noreturn]] void ThrowSystemError(const std::string& what, int code);
// Throws SystemError for the current errno.
[[noreturn]] void ThrowErrno(const std::string& what);

}  // namespace nstest

#endif  // NSTEST_ERROR_H_
