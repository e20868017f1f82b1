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

// In a LoadX function below: binds `table`'s field to the function of that name in `loader`'s
// library. The name is spelled after it is expanded, so that a macro's target is looked up.
#define NSTEST_SPELL(name) #name
#define NSTEST_BIND(field, function) loader.Bind(table.field, NSTEST_SPELL(function));

PcapLib LoadPcap() {
  Loader loader("libpcap", NSTEST_PCAP_SONAME, NSTEST_PCAP_PACKAGE, "packet captures");
  PcapLib table{};
  NSTEST_PCAP_FUNCTIONS(NSTEST_BIND)
  return table;
}

NftablesLib LoadNftables() {
  Loader loader("libnftables", NSTEST_NFTABLES_SONAME, NSTEST_NFTABLES_PACKAGE,
                "packet filters (drop, hold)");
  NftablesLib table{};
  NSTEST_NFTABLES_FUNCTIONS(NSTEST_BIND)
  return table;
}

NfqueueLib LoadNfqueue() {
  Loader loader("libnetfilter_queue", NSTEST_NFQUEUE_SONAME, NSTEST_NFQUEUE_PACKAGE,
                "held packets (hold)");
  NfqueueLib table{};
  NSTEST_NFQUEUE_FUNCTIONS(NSTEST_BIND)
  return table;
}

NftnlLib LoadNftnl() {
  NftnlLib table{};
  {
    Loader loader("libnftnl", NSTEST_NFTNL_SONAME, NSTEST_NFTNL_PACKAGE, "held packets (hold)");
    NSTEST_NFTNL_FUNCTIONS(NSTEST_BIND)
  }
  {
    Loader loader("libmnl", NSTEST_MNL_SONAME, NSTEST_MNL_PACKAGE, "held packets (hold)");
    NSTEST_MNL_FUNCTIONS(NSTEST_BIND)
  }
  return table;
}

#undef NSTEST_BIND
#undef NSTEST_SPELL

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
