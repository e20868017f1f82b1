#include "src/loaded_libs.h"

#include <dlfcn.h>
#include <fmt/format.h>

#include "nstest/error.h"

// The file names the build found, and the packages holding them (CMakeLists.txt); these
// defaults are Debian 12's.
#ifndef NSTEST_PCAP_SONAME
#define NSTEST_PCAP_SONAME "libpcap.so.0.8"
#endif
#ifndef NSTEST_PCAP_PACKAGE
#define NSTEST_PCAP_PACKAGE "libpcap0.8"
#endif
#ifndef NSTEST_NFTABLES_SONAME
#define NSTEST_NFTABLES_SONAME "libnftables.so.1"
#endif
#ifndef NSTEST_NFTABLES_PACKAGE
#define NSTEST_NFTABLES_PACKAGE "libnftables1"
#endif
#ifndef NSTEST_NFQUEUE_SONAME
#define NSTEST_NFQUEUE_SONAME "libnetfilter_queue.so.1"
#endif
#ifndef NSTEST_NFQUEUE_PACKAGE
#define NSTEST_NFQUEUE_PACKAGE "libnetfilter-queue1"
#endif
#ifndef NSTEST_NFTNL_SONAME
#define NSTEST_NFTNL_SONAME "libnftnl.so.11"
#endif
#ifndef NSTEST_NFTNL_PACKAGE
#define NSTEST_NFTNL_PACKAGE "libnftnl11"
#endif
#ifndef NSTEST_MNL_SONAME
#define NSTEST_MNL_SONAME "libmnl.so.0"
#endif
#ifndef NSTEST_MNL_PACKAGE
#define NSTEST_MNL_PACKAGE "libmnl0"
#endif

namespace nstest {
namespace {

// A library being loaded: its handle, and what it is for, for the messages.
class Loader {
 public:
  Loader(const char* name, const char* soname, const char* package, const char* needed_by)
      : name_(name), soname_(soname), package_(package), needed_by_(needed_by) {
    // RTLD_NOW: a missing function is an error here, not a crash in the middle of a case.
    handle_ = ::dlopen(soname, RTLD_NOW | RTLD_LOCAL);
    if (handle_ == nullptr) Fail(::dlerror());
  }

  template <typename F>
  void Bind(F& function, const char* symbol) const {
    void* address = ::dlsym(handle_, symbol);
    if (address == nullptr) Fail(fmt::format("it has no function {}", symbol));
    function = reinterpret_cast<F>(address);
  }

 private:
  [[noreturn]] void Fail(const std::string& why) const {
    throw Error(fmt::format("{} ({}) could not be loaded: {}; {} need it (install {})", name_,
                            soname_, why, needed_by_, package_));
  }

  const char* name_;
  const char* soname_;
  const char* package_;
  const char* needed_by_;
  void* handle_ = nullptr;  // kept open for the life of the process
};

PcapLib LoadPcap() {
  Loader l("libpcap", NSTEST_PCAP_SONAME, NSTEST_PCAP_PACKAGE, "packet captures");
  PcapLib p{};
  l.Bind(p.create, "pcap_create");
  l.Bind(p.set_snaplen, "pcap_set_snaplen");
  l.Bind(p.set_buffer_size, "pcap_set_buffer_size");
  l.Bind(p.set_immediate_mode, "pcap_set_immediate_mode");
  l.Bind(p.set_tstamp_precision, "pcap_set_tstamp_precision");
  l.Bind(p.activate, "pcap_activate");
  l.Bind(p.compile, "pcap_compile");
  l.Bind(p.setfilter, "pcap_setfilter");
  l.Bind(p.freecode, "pcap_freecode");
  l.Bind(p.setnonblock, "pcap_setnonblock");
  l.Bind(p.get_selectable_fd, "pcap_get_selectable_fd");
  l.Bind(p.dispatch, "pcap_dispatch");
  l.Bind(p.stats, "pcap_stats");
  l.Bind(p.geterr, "pcap_geterr");
  l.Bind(p.close, "pcap_close");
  l.Bind(p.open_dead_with_tstamp_precision, "pcap_open_dead_with_tstamp_precision");
  l.Bind(p.dump_open, "pcap_dump_open");
  l.Bind(p.dump, "pcap_dump");
  l.Bind(p.dump_close, "pcap_dump_close");
  return p;
}

NftablesLib LoadNftables() {
  Loader l("libnftables", NSTEST_NFTABLES_SONAME, NSTEST_NFTABLES_PACKAGE,
           "packet filters (drop, hold)");
  NftablesLib n{};
  l.Bind(n.ctx_new, "nft_ctx_new");
  l.Bind(n.ctx_free, "nft_ctx_free");
  l.Bind(n.ctx_buffer_output, "nft_ctx_buffer_output");
  l.Bind(n.ctx_buffer_error, "nft_ctx_buffer_error");
  l.Bind(n.ctx_get_output_buffer, "nft_ctx_get_output_buffer");
  l.Bind(n.ctx_get_error_buffer, "nft_ctx_get_error_buffer");
  l.Bind(n.run_cmd_from_buffer, "nft_run_cmd_from_buffer");
  return n;
}

NfqueueLib LoadNfqueue() {
  Loader l("libnetfilter_queue", NSTEST_NFQUEUE_SONAME, NSTEST_NFQUEUE_PACKAGE,
           "held packets (hold)");
  NfqueueLib q{};
  l.Bind(q.open, "nfq_open");
  l.Bind(q.close, "nfq_close");
  l.Bind(q.create_queue, "nfq_create_queue");
  l.Bind(q.destroy_queue, "nfq_destroy_queue");
  l.Bind(q.set_mode, "nfq_set_mode");
  l.Bind(q.fd, "nfq_fd");
  l.Bind(q.handle_packet, "nfq_handle_packet");
  l.Bind(q.set_verdict, "nfq_set_verdict");
  l.Bind(q.get_msg_packet_hdr, "nfq_get_msg_packet_hdr");
  return q;
}

NftnlLib LoadNftnl() {
  Loader l("libnftnl", NSTEST_NFTNL_SONAME, NSTEST_NFTNL_PACKAGE, "held packets (hold)");
  NftnlLib n{};
  l.Bind(n.rule_alloc, "nftnl_rule_alloc");
  l.Bind(n.rule_free, "nftnl_rule_free");
  l.Bind(n.rule_set_u32, "nftnl_rule_set_u32");
  l.Bind(n.rule_set_str, "nftnl_rule_set_str");
  l.Bind(n.rule_add_expr, "nftnl_rule_add_expr");
  l.Bind(n.rule_nlmsg_build_payload, "nftnl_rule_nlmsg_build_payload");
  l.Bind(n.rule_nlmsg_build_hdr, "nftnl_nlmsg_build_hdr");  // the rule_ name is a macro
  l.Bind(n.expr_alloc, "nftnl_expr_alloc");
  l.Bind(n.expr_free, "nftnl_expr_free");
  l.Bind(n.expr_set, "nftnl_expr_set");
  l.Bind(n.expr_set_str, "nftnl_expr_set_str");
  l.Bind(n.expr_set_u32, "nftnl_expr_set_u32");
  l.Bind(n.batch_begin, "nftnl_batch_begin");
  l.Bind(n.batch_end, "nftnl_batch_end");
  Loader m("libmnl", NSTEST_MNL_SONAME, NSTEST_MNL_PACKAGE, "held packets (hold)");
  m.Bind(n.socket_open2, "mnl_socket_open2");
  m.Bind(n.socket_close, "mnl_socket_close");
  m.Bind(n.socket_bind, "mnl_socket_bind");
  m.Bind(n.socket_get_portid, "mnl_socket_get_portid");
  m.Bind(n.socket_sendto, "mnl_socket_sendto");
  m.Bind(n.socket_recvfrom, "mnl_socket_recvfrom");
  m.Bind(n.nlmsg_batch_start, "mnl_nlmsg_batch_start");
  m.Bind(n.nlmsg_batch_stop, "mnl_nlmsg_batch_stop");
  m.Bind(n.nlmsg_batch_next, "mnl_nlmsg_batch_next");
  m.Bind(n.nlmsg_batch_current, "mnl_nlmsg_batch_current");
  m.Bind(n.nlmsg_batch_head, "mnl_nlmsg_batch_head");
  m.Bind(n.nlmsg_batch_size, "mnl_nlmsg_batch_size");
  m.Bind(n.cb_run, "mnl_cb_run");
  return n;
}

bool Loaded(const char* soname) {
  void* handle = ::dlopen(soname, RTLD_NOW | RTLD_NOLOAD);
  if (handle == nullptr) return false;
  ::dlclose(handle);  // only the reference RTLD_NOLOAD took
  return true;
}

}  // namespace

// A static initialised by a call that throws is initialised again by the next call.
const PcapLib& Pcap() {
  static const PcapLib lib = LoadPcap();
  return lib;
}

const NftablesLib& Nftables() {
  static const NftablesLib lib = LoadNftables();
  return lib;
}

const NfqueueLib& Nfqueue() {
  static const NfqueueLib lib = LoadNfqueue();
  return lib;
}

const NftnlLib& Nftnl() {
  static const NftnlLib lib = LoadNftnl();
  return lib;
}

void PreloadLibraries(bool pcap, bool filters, bool queues) noexcept {
  auto preload = [](bool wanted, auto load) {
    try {
      if (wanted) load();
    } catch (...) {  // left for the first real use to report
    }
  };
  preload(pcap, Pcap);
  preload(filters, Nftables);
  preload(queues, Nfqueue);
  preload(queues, Nftnl);
}

bool PcapLoaded() { return Loaded(NSTEST_PCAP_SONAME); }
bool NftablesLoaded() { return Loaded(NSTEST_NFTABLES_SONAME); }
bool NfqueueLoaded() { return Loaded(NSTEST_NFQUEUE_SONAME); }
bool NftnlLoaded() { return Loaded(NSTEST_NFTNL_SONAME) && Loaded(NSTEST_MNL_SONAME); }

}  // namespace nstest
