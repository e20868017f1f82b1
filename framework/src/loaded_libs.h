// libpcap and libnftables, loaded with dlopen() when first needed instead of linked: a process
// that neither captures nor filters packets maps neither of them nor their thirteen dependencies
// (libdbus, libsystemd, libgcrypt and more for libpcap; libxtables, libjansson, libgmp for
// libnftables). Every case's process is forked from the runner's launcher, and what that process
// maps, each fork copies and each exit takes down again: about a fifth of a bare process's cost
// on this project's machines, for those thirteen libraries.
#ifndef NSTEST_SRC_LOADED_LIBS_H_
#define NSTEST_SRC_LOADED_LIBS_H_

#include <nftables/libnftables.h>
#include <pcap/pcap.h>

namespace nstest {

// The libpcap functions nstest calls.
struct PcapLib {
  decltype(&::pcap_create) create;
  decltype(&::pcap_set_snaplen) set_snaplen;
  decltype(&::pcap_set_buffer_size) set_buffer_size;
  decltype(&::pcap_set_immediate_mode) set_immediate_mode;
  decltype(&::pcap_set_tstamp_precision) set_tstamp_precision;
  decltype(&::pcap_activate) activate;
  decltype(&::pcap_compile) compile;
  decltype(&::pcap_setfilter) setfilter;
  decltype(&::pcap_freecode) freecode;
  decltype(&::pcap_setnonblock) setnonblock;
  decltype(&::pcap_get_selectable_fd) get_selectable_fd;
  decltype(&::pcap_dispatch) dispatch;
  decltype(&::pcap_stats) stats;
  decltype(&::pcap_geterr) geterr;
  decltype(&::pcap_close) close;
  decltype(&::pcap_open_dead_with_tstamp_precision) open_dead_with_tstamp_precision;
  decltype(&::pcap_dump_open) dump_open;
  decltype(&::pcap_dump) dump;
  decltype(&::pcap_dump_close) dump_close;
};

// The libnftables functions nstest calls.
struct NftablesLib {
  decltype(&::nft_ctx_new) ctx_new;
  decltype(&::nft_ctx_free) ctx_free;
  decltype(&::nft_ctx_buffer_output) ctx_buffer_output;
  decltype(&::nft_ctx_buffer_error) ctx_buffer_error;
  decltype(&::nft_ctx_get_output_buffer) ctx_get_output_buffer;
  decltype(&::nft_ctx_get_error_buffer) ctx_get_error_buffer;
  decltype(&::nft_run_cmd_from_buffer) run_cmd_from_buffer;
};

// Load the library on the first call (from any thread), then return the same table. Throw Error
// ("libpcap (libpcap.so.0.8) could not be loaded: ...; captures need it") when the library or
// one of its functions is missing; a later call tries again.
const PcapLib& Pcap();
const NftablesLib& Nftables();

// Loads what is asked for now, so that processes forked from this one later inherit it instead
// of each loading it again; a library that cannot be loaded is left for its first real use to
// report.
void PreloadLibraries(bool pcap, bool nftables) noexcept;

// Whether this process has the library loaded (for tests).
bool PcapLoaded();
bool NftablesLoaded();

}  // namespace nstest

#endif  // NSTEST_SRC_LOADED_LIBS_H_
