// The libraries nstest needs only to capture or filter packets, loaded with dlopen() when first
// needed instead of linked: libpcap, libnftables, and for NFQUEUE libnetfilter_queue, libnftnl
// and libmnl. A process that neither captures nor filters maps none of them, nor their
// dependencies (libdbus, libsystemd, libgcrypt and more for libpcap; libxtables, libjansson,
// libgmp for libnftables; libnfnetlink): 17 libraries. Every case's process is forked from the
// runner's launcher, and what that process maps, each fork copies and each exit takes down again
// (docs/benchmarks.md).
#ifndef NSTEST_SRC_LOADED_LIBS_H_
#define NSTEST_SRC_LOADED_LIBS_H_

// <arpa/inet.h> brings <netinet/in.h> before the kernel's <linux/in.h>, which the netfilter
// headers include (the other order does not compile).
#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <libnetfilter_queue/libnetfilter_queue.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
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

// The libnetfilter_queue functions nstest calls (PacketHold).
struct NfqueueLib {
  decltype(&::nfq_open) open;
  decltype(&::nfq_close) close;
  decltype(&::nfq_create_queue) create_queue;
  decltype(&::nfq_destroy_queue) destroy_queue;
  decltype(&::nfq_set_mode) set_mode;
  decltype(&::nfq_fd) fd;
  decltype(&::nfq_handle_packet) handle_packet;
  decltype(&::nfq_set_verdict) set_verdict;
  decltype(&::nfq_get_msg_packet_hdr) get_msg_packet_hdr;
};

// The libnftnl and libmnl functions nstest calls (a queue rule for kernels without nftables'
// `queue` expression, nft_compat.h).
struct NftnlLib {
  decltype(&::nftnl_rule_alloc) rule_alloc;
  decltype(&::nftnl_rule_free) rule_free;
  decltype(&::nftnl_rule_set_u32) rule_set_u32;
  decltype(&::nftnl_rule_set_str) rule_set_str;
  decltype(&::nftnl_rule_add_expr) rule_add_expr;
  decltype(&::nftnl_rule_nlmsg_build_payload) rule_nlmsg_build_payload;
  decltype(&::nftnl_rule_nlmsg_build_hdr) rule_nlmsg_build_hdr;
  decltype(&::nftnl_expr_alloc) expr_alloc;
  decltype(&::nftnl_expr_free) expr_free;
  decltype(&::nftnl_expr_set) expr_set;
  decltype(&::nftnl_expr_set_str) expr_set_str;
  decltype(&::nftnl_expr_set_u32) expr_set_u32;
  decltype(&::nftnl_batch_begin) batch_begin;
  decltype(&::nftnl_batch_end) batch_end;
  decltype(&::mnl_socket_open2) socket_open2;
  decltype(&::mnl_socket_close) socket_close;
  decltype(&::mnl_socket_bind) socket_bind;
  decltype(&::mnl_socket_get_portid) socket_get_portid;
  decltype(&::mnl_socket_sendto) socket_sendto;
  decltype(&::mnl_socket_recvfrom) socket_recvfrom;
  decltype(&::mnl_nlmsg_batch_start) nlmsg_batch_start;
  decltype(&::mnl_nlmsg_batch_stop) nlmsg_batch_stop;
  decltype(&::mnl_nlmsg_batch_next) nlmsg_batch_next;
  decltype(&::mnl_nlmsg_batch_current) nlmsg_batch_current;
  decltype(&::mnl_nlmsg_batch_head) nlmsg_batch_head;
  decltype(&::mnl_nlmsg_batch_size) nlmsg_batch_size;
  decltype(&::mnl_cb_run) cb_run;
};

// Load the library on the first call (from any thread), then return the same table. Throw Error
// ("libpcap (libpcap.so.0.8) could not be loaded: ...; packet captures need it (install
// libpcap0.8)") when the library or one of its functions is missing; a later call tries again.
const PcapLib& Pcap();
const NftablesLib& Nftables();
const NfqueueLib& Nfqueue();
const NftnlLib& Nftnl();

// Loads what is asked for now, so that processes forked from this one later inherit it instead
// of each loading it again; a library that cannot be loaded is left for its first real use to
// report.
// `pcap`: libpcap; `filters`: libnftables; `queues`: libnetfilter_queue, libnftnl, libmnl.
void PreloadLibraries(bool pcap, bool filters, bool queues) noexcept;

// Whether this process has the library loaded (for tests).
bool PcapLoaded();
bool NftablesLoaded();
bool NfqueueLoaded();
bool NftnlLoaded();

}  // namespace nstest

#endif  // NSTEST_SRC_LOADED_LIBS_H_
