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

// Each library's functions, one X(field, function) a line: the field of its table below, and the
// function's name in the library's headers. A name that is itself a macro (libnftnl's
// nftnl_rule_nlmsg_build_hdr) stands for the function it expands to, in the field's type and in
// the symbol looked up alike.
#define NSTEST_LOADED_FIELD(field, function) decltype(&::function) field;

// The libpcap functions nstest calls.
#define NSTEST_PCAP_FUNCTIONS(X)                                           \
  X(create, pcap_create)                                                   \
  X(set_snaplen, pcap_set_snaplen)                                         \
  X(set_buffer_size, pcap_set_buffer_size)                                 \
  X(set_immediate_mode, pcap_set_immediate_mode)                           \
  X(set_tstamp_precision, pcap_set_tstamp_precision)                       \
  X(activate, pcap_activate)                                               \
  X(compile, pcap_compile)                                                 \
  X(setfilter, pcap_setfilter)                                             \
  X(freecode, pcap_freecode)                                               \
  X(setnonblock, pcap_setnonblock)                                         \
  X(get_selectable_fd, pcap_get_selectable_fd)                             \
  X(dispatch, pcap_dispatch)                                               \
  X(stats, pcap_stats)                                                     \
  X(geterr, pcap_geterr)                                                   \
  X(close, pcap_close)                                                     \
  X(open_dead_with_tstamp_precision, pcap_open_dead_with_tstamp_precision) \
  X(dump_open, pcap_dump_open)                                             \
  X(dump, pcap_dump)                                                       \
  X(dump_close, pcap_dump_close)
struct PcapLib {
  NSTEST_PCAP_FUNCTIONS(NSTEST_LOADED_FIELD)
};

// The libnftables functions nstest calls.
#define NSTEST_NFTABLES_FUNCTIONS(X)                  \
  X(ctx_new, nft_ctx_new)                             \
  X(ctx_free, nft_ctx_free)                           \
  X(ctx_buffer_output, nft_ctx_buffer_output)         \
  X(ctx_buffer_error, nft_ctx_buffer_error)           \
  X(ctx_get_output_buffer, nft_ctx_get_output_buffer) \
  X(ctx_get_error_buffer, nft_ctx_get_error_buffer)   \
  X(run_cmd_from_buffer, nft_run_cmd_from_buffer)
struct NftablesLib {
  NSTEST_NFTABLES_FUNCTIONS(NSTEST_LOADED_FIELD)
};

// The libnetfilter_queue functions nstest calls (PacketHold).
#define NSTEST_NFQUEUE_FUNCTIONS(X)   \
  X(open, nfq_open)                   \
  X(close, nfq_close)                 \
  X(create_queue, nfq_create_queue)   \
  X(destroy_queue, nfq_destroy_queue) \
  X(set_mode, nfq_set_mode)           \
  X(fd, nfq_fd)                       \
  X(handle_packet, nfq_handle_packet) \
  X(set_verdict, nfq_set_verdict)     \
  X(get_msg_packet_hdr, nfq_get_msg_packet_hdr)
struct NfqueueLib {
  NSTEST_NFQUEUE_FUNCTIONS(NSTEST_LOADED_FIELD)
};

// The libnftnl and libmnl functions nstest calls (a queue rule for kernels without nftables'
// `queue` expression, nft_compat.h).
#define NSTEST_NFTNL_FUNCTIONS(X)                             \
  X(rule_alloc, nftnl_rule_alloc)                             \
  X(rule_free, nftnl_rule_free)                               \
  X(rule_set_u32, nftnl_rule_set_u32)                         \
  X(rule_set_str, nftnl_rule_set_str)                         \
  X(rule_add_expr, nftnl_rule_add_expr)                       \
  X(rule_nlmsg_build_payload, nftnl_rule_nlmsg_build_payload) \
  X(rule_nlmsg_build_hdr, nftnl_rule_nlmsg_build_hdr)         \
  X(expr_alloc, nftnl_expr_alloc)                             \
  X(expr_free, nftnl_expr_free)                               \
  X(expr_set, nftnl_expr_set)                                 \
  X(expr_set_str, nftnl_expr_set_str)                         \
  X(expr_set_u32, nftnl_expr_set_u32)                         \
  X(batch_begin, nftnl_batch_begin)                           \
  X(batch_end, nftnl_batch_end)
#define NSTEST_MNL_FUNCTIONS(X)                   \
  X(socket_open2, mnl_socket_open2)               \
  X(socket_close, mnl_socket_close)               \
  X(socket_bind, mnl_socket_bind)                 \
  X(socket_get_portid, mnl_socket_get_portid)     \
  X(socket_sendto, mnl_socket_sendto)             \
  X(socket_recvfrom, mnl_socket_recvfrom)         \
  X(nlmsg_batch_start, mnl_nlmsg_batch_start)     \
  X(nlmsg_batch_stop, mnl_nlmsg_batch_stop)       \
  X(nlmsg_batch_next, mnl_nlmsg_batch_next)       \
  X(nlmsg_batch_current, mnl_nlmsg_batch_current) \
  X(nlmsg_batch_head, mnl_nlmsg_batch_head)       \
  X(nlmsg_batch_size, mnl_nlmsg_batch_size)       \
  X(cb_run, mnl_cb_run)
struct NftnlLib {
  NSTEST_NFTNL_FUNCTIONS(NSTEST_LOADED_FIELD)
  NSTEST_MNL_FUNCTIONS(NSTEST_LOADED_FIELD)
};
#undef NSTEST_LOADED_FIELD

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
