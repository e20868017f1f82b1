#include "src/loaded_libs.h"

#include <dlfcn.h>
#include <fmt/format.h>

#include "nstest/error.h"

// The file names the build found (CMakeLists.txt); these are Debian's.
#ifndef NSTEST_PCAP_SONAME
#define NSTEST_PCAP_SONAME "libpcap.so.0.8"
#endif
#ifndef NSTEST_NFTABLES_SONAME
#define NSTEST_NFTABLES_SONAME "libnftables.so.1"
#endif

namespace nstest {
namespace {

// A library being loaded: its handle, and what it is for, for the messages.
class Loader {
 public:
  Loader(const char* name, const char* soname, const char* needed_by)
      : name_(name), soname_(soname), needed_by_(needed_by) {
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
                            soname_, why, needed_by_, name_));
  }

  const char* name_;
  const char* soname_;
  const char* needed_by_;
  void* handle_ = nullptr;  // kept open for the life of the process
};

PcapLib LoadPcap() {
  Loader l("libpcap", NSTEST_PCAP_SONAME, "packet captures");
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
  Loader l("libnftables", NSTEST_NFTABLES_SONAME, "packet filters (drop, hold)");
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

void PreloadLibraries(bool pcap, bool nftables) noexcept {
  try {
    if (pcap) Pcap();
  } catch (const Error&) {
  }
  try {
    if (nftables) Nftables();
  } catch (const Error&) {
  }
}

bool PcapLoaded() { return Loaded(NSTEST_PCAP_SONAME); }
bool NftablesLoaded() { return Loaded(NSTEST_NFTABLES_SONAME); }

}  // namespace nstest
