#include "src/netlink_util.h"

#include <fmt/format.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <netlink/errno.h>
#include <netlink/socket.h>
#include <sys/socket.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "nstest/error.h"

namespace nstest {

NlSockPtr ConnectNetlink(int protocol, const std::string& context) {
  NlSockPtr sock(nl_socket_alloc());
  if (!sock) throw Error(fmt::format("allocate netlink socket for {}: out of memory", context));
  // libnl opens its sockets with SOCK_CLOEXEC (lib/nl.c, nl_connect).
  int err = nl_connect(sock.get(), protocol);
  if (err < 0) throw NetlinkError(fmt::format("open netlink socket for {}", context), err);
  return sock;
}

RtnlRequest::RtnlRequest(uint16_t type, uint16_t flags) {
  nlmsghdr h{};
  h.nlmsg_type = type;
  h.nlmsg_flags = static_cast<uint16_t>(flags | NLM_F_REQUEST | NLM_F_ACK);
  Append(&h, sizeof h);
}

void RtnlRequest::Append(const void* data, size_t len) {
  size_t aligned = NLMSG_ALIGN(len);
  words_.resize((size_ + aligned) / 4);
  auto* at = reinterpret_cast<char*>(words_.data()) + size_;
  std::memcpy(at, data, len);
  std::memset(at + len, 0, aligned - len);
  size_ += aligned;
}

void RtnlRequest::Put(uint16_t attr, const void* data, size_t len) {
  rtattr a{};
  a.rta_type = attr;
  a.rta_len = static_cast<uint16_t>(RTA_LENGTH(len));
  Append(&a, sizeof a);
  if (len > 0) Append(data, len);
}

size_t RtnlRequest::BeginNest(uint16_t attr) {
  size_t at = size_;
  Put(attr, nullptr, 0);
  return at;
}

void RtnlRequest::EndNest(size_t nest) {
  auto* a = reinterpret_cast<rtattr*>(reinterpret_cast<char*>(words_.data()) + nest);
  a->rta_len = static_cast<uint16_t>(size_ - nest);
}

int RtnlRequest::Execute(nl_sock* sock, const std::function<void(const nlmsghdr&)>& on_reply) {
  auto* h = reinterpret_cast<nlmsghdr*>(words_.data());
  h->nlmsg_len = static_cast<uint32_t>(size_);
  // A sequence number of our own: libnl checks the replies to its requests against the numbers
  // it handed out, and never sees this one's.
  static std::atomic<uint32_t> next_seq{1};
  h->nlmsg_seq = next_seq++;
  int fd = nl_socket_get_fd(sock);
  ssize_t sent;
  while ((sent = ::send(fd, h, size_, 0)) < 0 && errno == EINTR) {
  }
  if (sent < 0) return -nl_syserr2nlerr(errno);
  // The answer is one NLMSG_ERROR (0: done); anything else on the socket is not ours to keep.
  alignas(nlmsghdr) char buf[8192];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -nl_syserr2nlerr(errno);
    }
    // The messages in what came, as NLMSG_OK and NLMSG_NEXT walk them, with unsigned lengths.
    for (size_t at = 0, left = static_cast<size_t>(n); left >= sizeof(nlmsghdr);) {
      const auto* r = reinterpret_cast<const nlmsghdr*>(buf + at);
      if (r->nlmsg_len < sizeof(nlmsghdr) || r->nlmsg_len > left) break;
      if (r->nlmsg_seq == h->nlmsg_seq && r->nlmsg_type == NLMSG_ERROR) {
        int error = static_cast<const nlmsgerr*>(NLMSG_DATA(r))->error;
        return error == 0 ? 0 : -nl_syserr2nlerr(-error);
      }
      if (r->nlmsg_seq == h->nlmsg_seq && on_reply) on_reply(*r);
      size_t step = NLMSG_ALIGN(r->nlmsg_len);
      if (step >= left) break;
      at += step;
      left -= step;
    }
  }
}

void ForEachAttribute(const nlmsghdr& m, size_t header_size,
                      const std::function<void(uint16_t type, const void* data, size_t size)>& f) {
  const size_t start = NLMSG_HDRLEN + NLMSG_ALIGN(header_size);
  if (m.nlmsg_len < start) return;
  const auto* base = reinterpret_cast<const char*>(&m);
  for (size_t at = start; at + sizeof(rtattr) <= m.nlmsg_len;) {
    const auto* a = reinterpret_cast<const rtattr*>(base + at);
    if (a->rta_len < sizeof(rtattr) || a->rta_len > m.nlmsg_len - at) return;
    f(a->rta_type, base + at + RTA_LENGTH(0), a->rta_len - RTA_LENGTH(0));
    at += RTA_ALIGN(a->rta_len);
  }
}

}  // namespace nstest
