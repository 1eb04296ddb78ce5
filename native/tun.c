// tunguard_tun: the TUN device for the dataplane. Only fds, ioctls and batched syscalls live here;
// every decision about packets is made in TypeScript over the batch buffer this fills.
// One file (about 930 lines): one Node addon, one module registration; each function is a thin,
// separate wrapper of one syscall family (TUN, packet sockets, bpf, netlink), none large.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <linux/bpf.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_cthelper.h>
#include <linux/netlink.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <netinet/in.h>
#include <net/if.h>
#include <node_api.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

// A read needs room for the largest packet the kernel can hand over: the virtio-net header plus a
// 64 KiB GSO super-packet. A slot smaller than that could silently truncate a packet.
#define MAX_PACKET (65535 + 12)

#ifndef TUN_F_USO4
#define TUN_F_USO4 0x20
#define TUN_F_USO6 0x40
#endif

// musl has no strerrorname_np: name the errnos a TUN, an ioctl or a poll can give.
static const char *errno_name(int err) {
  switch (err) {
#define E(x) \
  case x:    \
    return #x;
    E(EPERM) E(ENOENT) E(EINTR) E(EIO) E(ENXIO) E(EBADF) E(EAGAIN) E(ENOMEM) E(EACCES) E(EFAULT) E(EBUSY) E(E2BIG) E(ERANGE)
    E(EEXIST) E(ENODEV) E(EINVAL) E(ENFILE) E(EMFILE) E(ENOSPC) E(EMSGSIZE) E(EOPNOTSUPP) E(ENOBUFS)
    E(ENETDOWN) E(EHOSTUNREACH) E(ENOTTY) E(EAFNOSUPPORT) E(EPROTONOSUPPORT) E(EPROTO) E(EOVERFLOW)
#undef E
    default:
      return NULL;
  }
}

static napi_value throw_errno(napi_env env, const char *what, int err) {
  char msg[1280];
  const char *name = errno_name(err);
  snprintf(msg, sizeof msg, "%s: %s (%s)", what, strerror(err), name ? name : "E?");
  napi_value code, message, error;
  napi_create_string_utf8(env, name ? name : "EUNKNOWN", NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &message);
  napi_create_error(env, code, message, &error);
  napi_value errnov;
  napi_create_int32(env, -err, &errnov);
  napi_set_named_property(env, error, "errno", errnov);
  napi_set_named_property(env, error, "syscall", message);
  napi_throw(env, error);
  return NULL;
}

static napi_value throw_type(napi_env env, const char *msg) {
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
  return NULL;
}

static int get_i32(napi_env env, napi_value v, int32_t *out) {
  return napi_get_value_int32(env, v, out) == napi_ok;
}

static int get_bytes(napi_env env, napi_value v, uint8_t **data, size_t *len) {
  napi_typedarray_type t;
  size_t n, off;
  void *p;
  napi_value ab;
  if (napi_get_typedarray_info(env, v, &t, &n, &p, &ab, &off) != napi_ok || t != napi_uint8_array) return 0;
  *data = p;
  *len = n;
  return 1;
}

static int get_u32s(napi_env env, napi_value v, uint32_t **data, size_t *len) {
  napi_typedarray_type t;
  size_t n, off;
  void *p;
  napi_value ab;
  if (napi_get_typedarray_info(env, v, &t, &n, &p, &ab, &off) != napi_ok || t != napi_uint32_array) return 0;
  *data = p;
  *len = n;
  return 1;
}

static napi_value make_i32(napi_env env, int32_t v) {
  napi_value r;
  napi_create_int32(env, v, &r);
  return r;
}

static napi_value make_bool(napi_env env, bool v) {
  napi_value r;
  napi_get_boolean(env, v, &r);
  return r;
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

// open(name, flags) -> [fd, actualName, offloads]
// flags: bit0 multi-queue, bit1 vnet header + offloads. The offload set is probed from the largest
// down: an unknown bit gives EINVAL, which is how the kernel says it lacks USO.
static napi_value tg_open(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char name[IFNAMSIZ];
  size_t nlen = 0;
  int32_t flags = 0;
  if (argc < 2 || napi_get_value_string_utf8(env, argv[0], name, sizeof name, &nlen) != napi_ok ||
      !get_i32(env, argv[1], &flags))
    return throw_type(env, "open(name: string, flags: number)");
  int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return throw_errno(env, "open /dev/net/tun", errno);
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  if (flags & 1) ifr.ifr_flags |= IFF_MULTI_QUEUE;
  if (flags & 2) ifr.ifr_flags |= IFF_VNET_HDR;
  memcpy(ifr.ifr_name, name, nlen < IFNAMSIZ ? nlen : IFNAMSIZ - 1);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int e = errno;
    close(fd);
    return throw_errno(env, "ioctl TUNSETIFF", e);
  }
  unsigned int offloads = 0;
  if (flags & 2) {
    int hdrsz = 10;
    if (ioctl(fd, TUNSETVNETHDRSZ, &hdrsz) < 0) {
      int e = errno;
      close(fd);
      return throw_errno(env, "ioctl TUNSETVNETHDRSZ", e);
    }
    const unsigned int tries[] = {TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN | TUN_F_USO4 | TUN_F_USO6,
                                  TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN,
                                  TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6, TUN_F_CSUM};
    for (size_t i = 0; i < sizeof tries / sizeof tries[0]; i++) {
      if (ioctl(fd, TUNSETOFFLOAD, (unsigned long)tries[i]) == 0) {
        offloads = tries[i];
        break;
      }
      if (errno != EINVAL) {
        int e = errno;
        close(fd);
        return throw_errno(env, "ioctl TUNSETOFFLOAD", e);
      }
    }
  }
  napi_value arr, v;
  napi_create_array_with_length(env, 3, &arr);
  napi_set_element(env, arr, 0, make_i32(env, fd));
  napi_create_string_utf8(env, ifr.ifr_name, NAPI_AUTO_LENGTH, &v);
  napi_set_element(env, arr, 1, v);
  napi_set_element(env, arr, 2, make_i32(env, (int32_t)offloads));
  return arr;
}

// configure(name, mtu, txqueuelen): MTU, queue length and IFF_UP through the classic ioctls.
static napi_value tg_configure(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char name[IFNAMSIZ];
  size_t nlen = 0;
  int32_t mtu = 0, qlen = 0;
  if (argc < 3 || napi_get_value_string_utf8(env, argv[0], name, sizeof name, &nlen) != napi_ok ||
      !get_i32(env, argv[1], &mtu) || !get_i32(env, argv[2], &qlen))
    return throw_type(env, "configure(name: string, mtu: number, txqueuelen: number)");
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return throw_errno(env, "socket", errno);
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  memcpy(ifr.ifr_name, name, nlen);
  const char *step = NULL;
  if (mtu > 0) {
    ifr.ifr_mtu = mtu;
    if (ioctl(s, SIOCSIFMTU, &ifr) < 0) step = "ioctl SIOCSIFMTU";
  }
  if (!step && qlen > 0) {
    ifr.ifr_qlen = qlen;
    if (ioctl(s, SIOCSIFTXQLEN, &ifr) < 0) step = "ioctl SIOCSIFTXQLEN";
  }
  if (!step && ioctl(s, SIOCGIFFLAGS, &ifr) < 0) step = "ioctl SIOCGIFFLAGS";
  if (!step) {
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0) step = "ioctl SIOCSIFFLAGS";
  }
  int e = errno;
  close(s);
  if (step) return throw_errno(env, step, e);
  return NULL;
}

// readBatch(fd, buf, offsets, lengths, spinUs, timeoutMs, wakeFd) -> count
// Reads packets back to back into buf until EAGAIN, the batch is full, or no room for a maximal
// packet is left. With nothing read it first spins up to spinUs (cheap non-blocking reads: a
// packet that arrives within microseconds of the last batch skips the sleep/wake-up, which costs
// 100+ us), then sleeps in poll() up to timeoutMs, waking early when wakeFd is written.
static napi_value tg_read_batch(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd, spin_us, timeout_ms, wake_fd;
  uint8_t *buf;
  size_t buflen, noff, nlen;
  uint32_t *offs, *lens;
  if (argc < 7 || !get_i32(env, argv[0], &fd) || !get_bytes(env, argv[1], &buf, &buflen) ||
      !get_u32s(env, argv[2], &offs, &noff) || !get_u32s(env, argv[3], &lens, &nlen) ||
      !get_i32(env, argv[4], &spin_us) || !get_i32(env, argv[5], &timeout_ms) || !get_i32(env, argv[6], &wake_fd))
    return throw_type(env, "readBatch(fd, Uint8Array, Uint32Array, Uint32Array, spinUs, timeoutMs, wakeFd)");
  size_t max = noff < nlen ? noff : nlen;
  size_t pos = 0, n = 0;
  uint64_t spin_end = 0;
  for (;;) {
    while (n < max && buflen - pos >= MAX_PACKET) {
      ssize_t r = read(fd, buf + pos, MAX_PACKET);
      if (r > 0) {
        offs[n] = (uint32_t)pos;
        lens[n] = (uint32_t)r;
        n++;
        // Keep the next packet's headers 8-byte aligned for the JS views.
        pos += ((size_t)r + 7) & ~(size_t)7;
        continue;
      }
      if (r < 0 && errno == EINTR) continue;
      if (r < 0 && errno == EAGAIN) break;
      if (r == 0) break;
      if (n > 0) return make_i32(env, (int32_t)n);  // report the error on the next call
      return throw_errno(env, "read tun", errno);
    }
    if (n > 0) return make_i32(env, (int32_t)n);
    if (spin_us > 0) {
      uint64_t t = now_ns();
      if (spin_end == 0) spin_end = t + (uint64_t)spin_us * 1000u;
      if (t < spin_end) continue;
    }
    if (timeout_ms <= 0) return make_i32(env, 0);
    struct pollfd pfd[2] = {{.fd = fd, .events = POLLIN}, {.fd = wake_fd, .events = POLLIN}};
    int pr = poll(pfd, wake_fd >= 0 ? 2 : 1, timeout_ms);
    if (pr < 0 && errno != EINTR) return throw_errno(env, "poll tun", errno);
    if (pr <= 0) return make_i32(env, 0);
    if (wake_fd >= 0 && (pfd[1].revents & POLLIN)) {
      uint64_t v;
      if (read(wake_fd, &v, sizeof v) < 0) { /* already drained by another reader: fine */
      }
      return make_i32(env, 0);
    }
    if (pfd[0].revents & (POLLERR | POLLHUP | POLLNVAL)) return throw_errno(env, "poll tun", EBADF);
    timeout_ms = 0;  // readable now: one more pass, then return whatever came
    spin_us = 0;
  }
}

// writeBatch(fd, buf, offsets, lengths, count, status) -> packets written.
// A packet the kernel refuses (EINVAL: bad vnet header, EIO...) is skipped, not fatal: it is
// counted by the caller from status[0] (failures) and status[1] (last errno).
static napi_value tg_write_batch(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd, count;
  uint8_t *buf;
  size_t buflen, noff, nlen, nst;
  uint32_t *offs, *lens, *status;
  if (argc < 6 || !get_i32(env, argv[0], &fd) || !get_bytes(env, argv[1], &buf, &buflen) ||
      !get_u32s(env, argv[2], &offs, &noff) || !get_u32s(env, argv[3], &lens, &nlen) ||
      !get_i32(env, argv[4], &count) || !get_u32s(env, argv[5], &status, &nst) || nst < 2)
    return throw_type(env, "writeBatch(fd, Uint8Array, Uint32Array, Uint32Array, count, Uint32Array(2))");
  if (count < 0 || (size_t)count > noff || (size_t)count > nlen) return throw_type(env, "writeBatch: bad count");
  int32_t ok = 0;
  uint32_t failed = 0, last = 0;
  for (int32_t i = 0; i < count; i++) {
    uint64_t o = offs[i], l = lens[i];
    if (o + l > buflen || l == 0) {
      failed++;
      last = EFAULT;
      continue;
    }
    ssize_t w;
    do {
      w = write(fd, buf + o, (size_t)l);
    } while (w < 0 && errno == EINTR);
    if (w < 0) {
      if (errno == EBADF) return throw_errno(env, "write tun", errno);
      failed++;
      last = (uint32_t)errno;
    } else {
      ok++;
    }
  }
  status[0] = failed;
  status[1] = last;
  return make_i32(env, ok);
}

static napi_value tg_eventfd(napi_env env, napi_callback_info info) {
  (void)info;
  int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (fd < 0) return throw_errno(env, "eventfd", errno);
  return make_i32(env, fd);
}

static napi_value tg_wake(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t fd;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1 || !get_i32(env, argv[0], &fd)) return throw_type(env, "wake(fd)");
  uint64_t one = 1;
  if (write(fd, &one, sizeof one) < 0 && errno != EAGAIN) return throw_errno(env, "write eventfd", errno);
  return NULL;
}

static napi_value tg_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t fd;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1 || !get_i32(env, argv[0], &fd)) return throw_type(env, "close(fd)");
  if (close(fd) < 0) return throw_errno(env, "close", errno);
  return NULL;
}

#ifndef BPF_TCX_INGRESS
#define BPF_TCX_INGRESS 46
#define BPF_TCX_EGRESS 47
#endif
#define TG_BPF_F_BEFORE (1U << 3)

// Loads `len` bytes of struct bpf_insn (assembled in JS: src/tun/ebpf.ts, src/tun/steering-bpf.ts)
// as a program of `type` with the GPL license its helpers need; returns its fd, or -1 with a JS
// error thrown. A refused program is loaded a second time with the verifier's log (a log that
// overflows its buffer is an error of its own, ENOSPC, so the first attempt goes without one); the
// log's end, where the verifier gives its verdict, becomes the message.
//
// The verifier gives up with EAGAIN when a signal is pending for the thread: the daemon's children
// ending (SIGCHLD, which libuv catches) or a profiler's SIGPROF. That is no verdict on the program:
// the thread's signals wait while it loads (one sent to the process goes to another thread), and
// an EAGAIN all the same is tried again, as libbpf does.
static int prog_load(union bpf_attr *attr) {
  sigset_t all, was;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &was);
  int fd = -1;
  int err = 0;
  for (int attempt = 0; attempt < 5; attempt++) {
    fd = (int)syscall(__NR_bpf, BPF_PROG_LOAD, attr, sizeof *attr);
    err = errno;
    if (fd >= 0 || err != EAGAIN) break;
  }
  pthread_sigmask(SIG_SETMASK, &was, NULL);
  errno = err;
  return fd;
}

static int load_program(napi_env env, uint32_t type, const uint8_t *insns, size_t len) {
  static const char license[] = "GPL";
  union bpf_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.prog_type = type;
  attr.insn_cnt = (uint32_t)(len / sizeof(struct bpf_insn));
  attr.insns = (uint64_t)(uintptr_t)insns;
  attr.license = (uint64_t)(uintptr_t)license;
  int prog = prog_load(&attr);
  if (prog >= 0) return prog;
  int err = errno;
  char log[16384];
  log[0] = 0;
  attr.log_buf = (uint64_t)(uintptr_t)log;
  attr.log_size = sizeof log;
  attr.log_level = 1;
  int again = prog_load(&attr);
  if (again >= 0) close(again);
  size_t n = strlen(log);
  const char *tail = n > 1100 ? log + n - 1100 : log;
  char what[1200];
  snprintf(what, sizeof what, "bpf(BPF_PROG_LOAD)%s%.1100s", tail[0] ? ": " : "", tail);
  throw_errno(env, what, err);
  return -1;
}

// steer(fd, insns): loads an eBPF socket-filter program (built by src/tun/steering-bpf.ts) and makes
// it the device's queue selector (TUNSETSTEERINGEBPF): the kernel then picks the queue of every
// packet it sends into the TUN by the program's return value modulo the number of queues. The
// device keeps its own reference; our program fd is closed.
static napi_value tg_steer(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  int32_t fd;
  uint8_t *insns;
  size_t len;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 2 || !get_i32(env, argv[0], &fd) || !get_bytes(env, argv[1], &insns, &len) || len == 0 ||
      len % sizeof(struct bpf_insn) != 0)
    return throw_type(env, "steer(fd, insns: Uint8Array of 8-byte instructions)");
  int prog = load_program(env, BPF_PROG_TYPE_SOCKET_FILTER, insns, len);
  if (prog < 0) return NULL;
  int rc = ioctl(fd, TUNSETSTEERINGEBPF, &prog);
  int err = errno;
  close(prog);
  if (rc < 0) return throw_errno(env, "ioctl(TUNSETSTEERINGEBPF)", err);
  return NULL;
}

// bpfLoad(progType, insns) -> fd: a program of any type (the tc steering programs).
static napi_value tg_bpf_load(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  int32_t type;
  uint8_t *insns;
  size_t len;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 2 || !get_i32(env, argv[0], &type) || !get_bytes(env, argv[1], &insns, &len) || len == 0 ||
      len % sizeof(struct bpf_insn) != 0)
    return throw_type(env, "bpfLoad(progType, insns: Uint8Array of 8-byte instructions)");
  int prog = load_program(env, (uint32_t)type, insns, len);
  return prog < 0 ? NULL : make_i32(env, prog);
}

// tcxAttach(progFd, ifindex, egress) -> linkFd: attaches a loaded tc program to a device's TCX
// ingress or egress hook (Linux 6.6) through a BPF link. The link lives as long as its fd: when the
// process dies, however it dies, the kernel detaches the program (fail-open).
static napi_value tg_tcx_attach(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  int32_t prog, ifindex;
  bool egress, first = false;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 3 || !get_i32(env, argv[0], &prog) || !get_i32(env, argv[1], &ifindex) ||
      napi_get_value_bool(env, argv[2], &egress) != napi_ok ||
      (argc > 3 && napi_get_value_bool(env, argv[3], &first) != napi_ok))
    return throw_type(env, "tcxAttach(progFd, ifindex, egress: boolean, first?: boolean)");
  union bpf_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.link_create.prog_fd = (uint32_t)prog;
  attr.link_create.target_ifindex = (uint32_t)ifindex;
  attr.link_create.attach_type = egress ? BPF_TCX_EGRESS : BPF_TCX_INGRESS;
  // BPF_F_BEFORE with no relative program: in front of everything already attached.
  if (first) attr.link_create.flags = TG_BPF_F_BEFORE;
  int link = (int)syscall(__NR_bpf, BPF_LINK_CREATE, &attr, sizeof attr);
  if (link < 0) return throw_errno(env, egress ? "bpf(BPF_LINK_CREATE, tcx egress)" : "bpf(BPF_LINK_CREATE, tcx ingress)", errno);
  return make_i32(env, link);
}

// tcxCount(ifindex, egress) -> how many programs the device's TCX hook runs (BPF_PROG_QUERY): what
// the kernel has attached, whoever attached it, for the operator and the tests.
static napi_value tg_tcx_count(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  int32_t ifindex;
  bool egress;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 2 || !get_i32(env, argv[0], &ifindex) || napi_get_value_bool(env, argv[1], &egress) != napi_ok)
    return throw_type(env, "tcxCount(ifindex, egress: boolean)");
  union bpf_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.query.target_fd = (uint32_t)ifindex;  // target_ifindex for TCX (the same field)
  attr.query.attach_type = egress ? BPF_TCX_EGRESS : BPF_TCX_INGRESS;
  if (syscall(__NR_bpf, BPF_PROG_QUERY, &attr, sizeof attr) < 0)
    return throw_errno(env, "bpf(BPF_PROG_QUERY, tcx)", errno);
  return make_i32(env, (int32_t)attr.query.prog_cnt);
}

// The name the kernel shows for a map (bpftool map show): at most BPF_OBJ_NAME_LEN - 1 bytes, of the
// characters it takes (letters, digits, '_', '.'; any other becomes '_'). Longer names are cut.
static int get_obj_name(napi_env env, napi_value v, char out[BPF_OBJ_NAME_LEN]) {
  size_t n = 0;
  memset(out, 0, BPF_OBJ_NAME_LEN);
  if (napi_get_value_string_utf8(env, v, out, BPF_OBJ_NAME_LEN, &n) != napi_ok) return 0;
  for (size_t i = 0; i < n; i++) {
    char c = out[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.'))
      out[i] = '_';
  }
  return 1;
}

// bpfMapCreate(type, keySize, valueSize, maxEntries, flags?, name?) -> fd: a map for the programs
// (e.g. the LRU hash of flows that bypass the TUN). It lives as long as its fd and the programs
// holding it.
static napi_value tg_bpf_map_create(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  int32_t type, key, value, max, flags = 0;
  char name[BPF_OBJ_NAME_LEN] = {0};
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 4 || !get_i32(env, argv[0], &type) || !get_i32(env, argv[1], &key) ||
      !get_i32(env, argv[2], &value) || !get_i32(env, argv[3], &max) || key < 0 || value <= 0 || max <= 0 ||
      (argc > 4 && !get_i32(env, argv[4], &flags)) || (argc > 5 && !get_obj_name(env, argv[5], name)))
    return throw_type(env, "bpfMapCreate(type, keySize, valueSize, maxEntries, flags?, name?: string)");
  union bpf_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.map_type = (uint32_t)type;
  attr.key_size = (uint32_t)key;
  attr.value_size = (uint32_t)value;
  attr.max_entries = (uint32_t)max;
  attr.map_flags = (uint32_t)flags;
  memcpy(attr.map_name, name, sizeof attr.map_name);
  int fd = (int)syscall(__NR_bpf, BPF_MAP_CREATE, &attr, sizeof attr);
  if (fd < 0) return throw_errno(env, "bpf(BPF_MAP_CREATE)", errno);
  return make_i32(env, fd);
}

// bpfMapWrite(fd, keys, keySize, count, value, remove[, valueSize]) -> how many the kernel refused:
// updates (or deletes) `count` keys laid end to end in `keys`, in one native call. All with the same
// value, or, given valueSize > 0, each with its own: the values laid end to end in `value`.
static napi_value tg_bpf_map_write(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  int32_t fd, ksize, count, vsize = 0;
  uint8_t *keys, *value;
  size_t klen, vlen;
  bool remove;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 6 || !get_i32(env, argv[0], &fd) || !get_bytes(env, argv[1], &keys, &klen) ||
      !get_i32(env, argv[2], &ksize) || !get_i32(env, argv[3], &count) || !get_bytes(env, argv[4], &value, &vlen) ||
      napi_get_value_bool(env, argv[5], &remove) != napi_ok || ksize <= 0 || count < 0 ||
      (size_t)ksize * (size_t)count > klen)
    return throw_type(env, "bpfMapWrite(fd, keys, keySize, count, value, remove)");
  if (argc >= 7 && (!get_i32(env, argv[6], &vsize) || vsize < 0 || (size_t)vsize * (size_t)count > vlen))
    return throw_type(env, "bpfMapWrite(fd, keys, keySize, count, values, remove, valueSize)");
  int32_t refused = 0;
  for (int32_t i = 0; i < count; i++) {
    union bpf_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.map_fd = (uint32_t)fd;
    attr.key = (uint64_t)(uintptr_t)(keys + (size_t)i * (size_t)ksize);
    // A delete takes the key alone: the kernel refuses fields past it (EINVAL).
    if (!remove) {
      attr.value = (uint64_t)(uintptr_t)(value + (size_t)i * (size_t)vsize);
      attr.flags = BPF_ANY;
    }
    if (syscall(__NR_bpf, remove ? BPF_MAP_DELETE_ELEM : BPF_MAP_UPDATE_ELEM, &attr, sizeof attr) < 0) refused++;
  }
  return make_i32(env, refused);
}

// bpfMapCount(fd, keySize) -> the number of keys in a map (walks it: for tests and status).
static napi_value tg_bpf_map_count(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  int32_t fd, ksize;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 2 || !get_i32(env, argv[0], &fd) || !get_i32(env, argv[1], &ksize) || ksize <= 0 || ksize > 256)
    return throw_type(env, "bpfMapCount(fd, keySize)");
  uint8_t cur[256], next[256];
  int32_t n = 0;
  union bpf_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.map_fd = (uint32_t)fd;
  attr.key = 0;  // NULL: the first key
  attr.next_key = (uint64_t)(uintptr_t)next;
  while (syscall(__NR_bpf, BPF_MAP_GET_NEXT_KEY, &attr, sizeof attr) == 0) {
    n++;
    memcpy(cur, next, (size_t)ksize);
    attr.key = (uint64_t)(uintptr_t)cur;
  }
  if (errno != ENOENT) return throw_errno(env, "bpf(BPF_MAP_GET_NEXT_KEY)", errno);
  return make_i32(env, n);
}

// One element of a map into `value`: BPF_MAP_LOOKUP_ELEM (by key) or, for a queue,
// BPF_MAP_LOOKUP_AND_DELETE_ELEM (no key). Returns a JS boolean: whether there was one.
static napi_value map_take(napi_env env, int32_t fd, const uint8_t *key, uint8_t *value, int cmd, const char *what) {
  union bpf_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.map_fd = (uint32_t)fd;
  attr.key = (uint64_t)(uintptr_t)key;
  attr.value = (uint64_t)(uintptr_t)value;
  bool found = syscall(__NR_bpf, cmd, &attr, sizeof attr) == 0;
  if (!found && errno != ENOENT) return throw_errno(env, what, errno);
  napi_value r;
  napi_get_boolean(env, found, &r);
  return r;
}

// bpfMapRead(fd, key, value) -> whether the key is there; its value (for a per-CPU map, one slot of
// roundup(valueSize, 8) bytes per possible CPU) is written into `value`, which must be big enough.
static napi_value tg_bpf_map_read(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  int32_t fd;
  uint8_t *key, *value;
  size_t klen, vlen;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 3 || !get_i32(env, argv[0], &fd) || !get_bytes(env, argv[1], &key, &klen) ||
      !get_bytes(env, argv[2], &value, &vlen) || klen == 0 || vlen == 0)
    return throw_type(env, "bpfMapRead(fd, key, value)");
  return map_take(env, fd, key, value, BPF_MAP_LOOKUP_ELEM, "bpf(BPF_MAP_LOOKUP_ELEM)");
}

// bpfMapPop(fd, value) -> whether a value was taken from a queue map (BPF_MAP_TYPE_QUEUE) into `value`.
static napi_value tg_bpf_map_pop(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  int32_t fd;
  uint8_t *value;
  size_t vlen;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 2 || !get_i32(env, argv[0], &fd) || !get_bytes(env, argv[1], &value, &vlen) || vlen == 0)
    return throw_type(env, "bpfMapPop(fd, value)");
  return map_take(env, fd, NULL, value, BPF_MAP_LOOKUP_AND_DELETE_ELEM, "bpf(BPF_MAP_LOOKUP_AND_DELETE_ELEM)");
}

// bpfTestRun(progFd, dataIn, dataOut, ctx, repeat) -> [retval, dataOutLength, nsPerRun]: runs a
// loaded program on a packet in the kernel (BPF_PROG_TEST_RUN), for tests and benchmarks. `ctx`
// (a struct __sk_buff for tc programs, or an empty array) is passed in and written back.
static napi_value tg_bpf_test_run(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  int32_t prog, repeat;
  uint8_t *in, *out, *ctx;
  size_t inlen, outlen, ctxlen;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 5 || !get_i32(env, argv[0], &prog) || !get_bytes(env, argv[1], &in, &inlen) ||
      !get_bytes(env, argv[2], &out, &outlen) || !get_bytes(env, argv[3], &ctx, &ctxlen) ||
      !get_i32(env, argv[4], &repeat) || inlen == 0 || repeat < 1)
    return throw_type(env, "bpfTestRun(progFd, dataIn, dataOut, ctx, repeat)");
  union bpf_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.test.prog_fd = (uint32_t)prog;
  attr.test.data_in = (uint64_t)(uintptr_t)in;
  attr.test.data_size_in = (uint32_t)inlen;
  attr.test.data_out = (uint64_t)(uintptr_t)out;
  attr.test.data_size_out = (uint32_t)outlen;
  if (ctxlen > 0) {
    attr.test.ctx_in = (uint64_t)(uintptr_t)ctx;
    attr.test.ctx_size_in = (uint32_t)ctxlen;
    attr.test.ctx_out = (uint64_t)(uintptr_t)ctx;
    attr.test.ctx_size_out = (uint32_t)ctxlen;
  }
  attr.test.repeat = (uint32_t)repeat;
  if (syscall(__NR_bpf, BPF_PROG_TEST_RUN, &attr, sizeof attr) < 0)
    return throw_errno(env, "bpf(BPF_PROG_TEST_RUN)", errno);
  napi_value r;
  napi_create_array_with_length(env, 3, &r);
  napi_set_element(env, r, 0, make_i32(env, (int32_t)attr.test.retval));
  napi_set_element(env, r, 1, make_i32(env, (int32_t)attr.test.data_size_out));
  napi_set_element(env, r, 2, make_i32(env, (int32_t)attr.test.duration));
  return r;
}

// dhcpSocket(ifname) -> fd: a non-blocking AF_PACKET socket on one LAN device that receives only the
// IPv4 UDP datagrams to port 67 (DHCP clients talking to the server), unfragmented, from the IP header
// on (SOCK_DGRAM). The passive inventory reads it with readBatch (no spin, no wait) once a second: the
// kernel's filter keeps everything else out, so the data path pays one classic-BPF run per frame.
// The socket is created bound to no protocol and filtered before bind, so nothing unfiltered queues.
static napi_value tg_dhcp_socket(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char name[IFNAMSIZ];
  size_t nlen = 0;
  if (argc < 1 || napi_get_value_string_utf8(env, argv[0], name, sizeof name, &nlen) != napi_ok || nlen == 0)
    return throw_type(env, "dhcpSocket(ifname: string)");
  unsigned int ifindex = if_nametoindex(name);
  if (ifindex == 0) return throw_errno(env, "if_nametoindex", errno);
  static struct sock_filter code[] = {
      BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 9),                 // IP protocol
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, IPPROTO_UDP, 0, 6),  // not UDP: drop
      BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 6),                 // flags and fragment offset
      BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x1fff, 4, 0),    // a later fragment: drop
      BPF_STMT(BPF_LDX | BPF_B | BPF_MSH, 0),                // X = IP header length
      BPF_STMT(BPF_LD | BPF_H | BPF_IND, 2),                 // UDP destination port
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 67, 0, 1),         // bootps
      BPF_STMT(BPF_RET | BPF_K, 0xffff),
      BPF_STMT(BPF_RET | BPF_K, 0),
  };
  struct sock_fprog prog = {.len = sizeof code / sizeof code[0], .filter = code};
  int fd = socket(AF_PACKET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, "socket(AF_PACKET)", errno);
  if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) < 0) {
    int e = errno;
    close(fd);
    return throw_errno(env, "setsockopt(SO_ATTACH_FILTER)", e);
  }
#ifdef PACKET_IGNORE_OUTGOING
  int one = 1;
  (void)setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one);  // Linux 4.20+
#endif
  struct sockaddr_ll sll;
  memset(&sll, 0, sizeof sll);
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons(ETH_P_IP);
  sll.sll_ifindex = (int)ifindex;
  if (bind(fd, (struct sockaddr *)&sll, sizeof sll) < 0) {
    int e = errno;
    close(fd);
    return throw_errno(env, "bind(AF_PACKET)", e);
  }
  return make_i32(env, fd);
}

#ifndef NF_CT_HELPER_NAME_LEN
#define NF_CT_HELPER_NAME_LEN 16  // include/net/netfilter/nf_conntrack_helper.h (not uapi)
#endif

// A netlink attribute appended at *off in buf (at most cap bytes); returns the attribute or NULL.
static struct nlattr *nl_put(uint8_t *buf, size_t cap, size_t *off, uint16_t type, const void *data, size_t len) {
  size_t total = NLA_ALIGN(NLA_HDRLEN + len);
  if (*off + total > cap) return NULL;
  struct nlattr *a = (struct nlattr *)(buf + *off);
  a->nla_type = type;
  a->nla_len = (uint16_t)(NLA_HDRLEN + len);
  if (len) memcpy((uint8_t *)a + NLA_HDRLEN, data, len);
  memset((uint8_t *)a + NLA_HDRLEN + len, 0, total - NLA_HDRLEN - len);
  *off += total;
  return a;
}

static void nl_end(struct nlattr *nest, const uint8_t *buf, size_t off) {
  nest->nla_len = (uint16_t)(buf + off - (const uint8_t *)nest);
}

// Sends one request (NLM_F_ACK set) on a fresh netlink socket of `protocol` and waits for its
// acknowledgement; returns 0 or the positive errno the kernel (or the socket) gave.
static int nl_call(int protocol, uint8_t *buf, size_t len) {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol);
  if (fd < 0) return errno;
  struct timeval tv = {.tv_sec = 2, .tv_usec = 0};
  (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
  if (sendto(fd, buf, len, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0) {
    int e = errno;
    close(fd);
    return e;
  }
  uint8_t reply[1024] __attribute__((aligned(4)));
  ssize_t n = recv(fd, reply, sizeof reply, 0);
  int e = n < 0 ? errno : 0;
  close(fd);
  if (n < 0) return e;
  struct nlmsghdr *r = (struct nlmsghdr *)reply;
  if (!NLMSG_OK(r, (size_t)n) || r->nlmsg_type != NLMSG_ERROR ||
      r->nlmsg_len < NLMSG_LENGTH(sizeof(struct nlmsgerr)))
    return EPROTO;
  return -((struct nlmsgerr *)NLMSG_DATA(r))->error;
}

// An rtnetlink tc request for device `ifindex`: the header and its tcmsg; attributes follow at *off.
static struct tcmsg *tc_request(uint8_t *buf, size_t *off, uint16_t type, uint16_t flags, int ifindex) {
  struct nlmsghdr *nlh = (struct nlmsghdr *)buf;
  nlh->nlmsg_type = type;
  nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
  nlh->nlmsg_seq = 1;
  struct tcmsg *t = (struct tcmsg *)NLMSG_DATA(nlh);
  t->tcm_family = AF_UNSPEC;
  t->tcm_ifindex = ifindex;
  *off = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof *t);
  return t;
}

// tcFilter(ifindex, egress, prio, progFd, name?) -> boolean: the cls_bpf way to run a tc program,
// for kernels without TCX. progFd >= 0 adds it (direct action, handle 1) at `prio` of the device's
// clsact ingress or egress, creating the clsact qdisc if the device has none; an existing filter at
// that prio is an error (EEXIST). progFd < 0 deletes whatever is at `prio` and says whether there
// was something. Unlike a TCX link, the filter outlives this process: src/netcfg/tc-attach.ts puts
// a heartbeat guard in front of what it adds, and clears what a dead daemon left.
static napi_value tg_tc_filter(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  int32_t ifindex, prio, prog;
  bool egress;
  char name[64] = "tunguard";
  size_t nlen = strlen(name);
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 4 || !get_i32(env, argv[0], &ifindex) || ifindex <= 0 ||
      napi_get_value_bool(env, argv[1], &egress) != napi_ok || !get_i32(env, argv[2], &prio) ||
      prio < 1 || prio > 0xffff || !get_i32(env, argv[3], &prog) ||
      (argc > 4 && napi_get_value_string_utf8(env, argv[4], name, sizeof name, &nlen) != napi_ok))
    return throw_type(env, "tcFilter(ifindex > 0, egress: boolean, prio 1-65535, progFd (< 0: delete), name?: string)");
  uint8_t buf[512] __attribute__((aligned(4)));
  size_t off, cap = sizeof buf;
  struct tcmsg *t;
  uint32_t parent = TC_H_MAKE(TC_H_CLSACT, egress ? TC_H_MIN_EGRESS : TC_H_MIN_INGRESS);
  if (prog >= 0) {
    memset(buf, 0, sizeof buf);
    t = tc_request(buf, &off, RTM_NEWQDISC, NLM_F_CREATE | NLM_F_EXCL, ifindex);
    t->tcm_handle = TC_H_MAKE(TC_H_CLSACT, 0);
    t->tcm_parent = TC_H_CLSACT;
    nl_put(buf, cap, &off, TCA_KIND, "clsact", sizeof "clsact");
    ((struct nlmsghdr *)buf)->nlmsg_len = (uint32_t)off;
    int err = nl_call(NETLINK_ROUTE, buf, off);
    if (err != 0 && err != EEXIST) return throw_errno(env, "rtnetlink: add the clsact qdisc", err);
  }
  memset(buf, 0, sizeof buf);
  t = tc_request(buf, &off, prog >= 0 ? RTM_NEWTFILTER : RTM_DELTFILTER,
                 prog >= 0 ? NLM_F_CREATE | NLM_F_EXCL : 0, ifindex);
  t->tcm_parent = parent;
  if (prog >= 0) {
    t->tcm_handle = 1;
    t->tcm_info = TC_H_MAKE((uint32_t)prio << 16, htons(ETH_P_ALL));
    nl_put(buf, cap, &off, TCA_KIND, "bpf", sizeof "bpf");
    struct nlattr *opts = nl_put(buf, cap, &off, TCA_OPTIONS | NLA_F_NESTED, NULL, 0);
    uint32_t fd = (uint32_t)prog, flags = TCA_BPF_FLAG_ACT_DIRECT;
    nl_put(buf, cap, &off, TCA_BPF_FD, &fd, sizeof fd);
    nl_put(buf, cap, &off, TCA_BPF_NAME, name, nlen + 1);
    nl_put(buf, cap, &off, TCA_BPF_FLAGS, &flags, sizeof flags);
    nl_end(opts, buf, off);
  } else {
    // Handle 0 and no protocol: the whole prio goes, whatever filter a dead daemon left there.
    t->tcm_info = TC_H_MAKE((uint32_t)prio << 16, 0);
  }
  ((struct nlmsghdr *)buf)->nlmsg_len = (uint32_t)off;
  int err = nl_call(NETLINK_ROUTE, buf, off);
  if (prog < 0 && (err == ENOENT || err == EINVAL)) return make_bool(env, false);
  if (err != 0) return throw_errno(env, prog >= 0 ? "rtnetlink: add the bpf filter" : "rtnetlink: delete the bpf filter", err);
  return make_bool(env, true);
}

// ctHelper(add, name, family, l4proto): registers (add) or deletes a user-space conntrack helper
// through nfnetlink_cthelper. It is registered disabled (NFCTH_STATUS 0), so the kernel's hook for
// it (nfnl_userspace_cthelper) accepts every packet untouched and queues nothing: the helper is only
// a marker. A conntrack entry carrying any helper is never put in a flowtable (nft_flow_offload_eval),
// which is what keeps the SYN proxy's connections out of flow offloading. Add updates an existing
// helper of that name and family; delete fails with EBUSY while an nft object still holds it.
static napi_value tg_ct_helper(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  bool add = false;
  char name[NF_CT_HELPER_NAME_LEN];
  size_t nlen = 0;
  int32_t family = 0, l4 = 0;
  if (argc < 4 || napi_get_value_bool(env, argv[0], &add) != napi_ok ||
      napi_get_value_string_utf8(env, argv[1], name, sizeof name, &nlen) != napi_ok || nlen == 0 ||
      nlen >= sizeof name - 1 || !get_i32(env, argv[2], &family) || !get_i32(env, argv[3], &l4) ||
      (family != AF_INET && family != AF_INET6) || l4 <= 0 || l4 > 255)
    return throw_type(env, "ctHelper(add: boolean, name: string (1-14 bytes), family: 2 | 10, l4proto: 1-255)");
  uint8_t buf[512] __attribute__((aligned(4)));
  memset(buf, 0, sizeof buf);
  struct nlmsghdr *nlh = (struct nlmsghdr *)buf;
  nlh->nlmsg_type = (NFNL_SUBSYS_CTHELPER << 8) | (add ? NFNL_MSG_CTHELPER_NEW : NFNL_MSG_CTHELPER_DEL);
  nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | (add ? NLM_F_CREATE : 0);
  nlh->nlmsg_seq = 1;
  struct nfgenmsg *nfg = (struct nfgenmsg *)NLMSG_DATA(nlh);
  nfg->nfgen_family = AF_UNSPEC;
  nfg->version = NFNETLINK_V0;
  size_t off = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof *nfg), cap = sizeof buf;
  uint16_t l3 = htons((uint16_t)family);
  uint8_t proto = (uint8_t)l4;
  uint32_t zero = 0, one = htonl(1);
  nl_put(buf, cap, &off, NFCTH_NAME, name, nlen + 1);
  struct nlattr *tuple = nl_put(buf, cap, &off, NFCTH_TUPLE | NLA_F_NESTED, NULL, 0);
  nl_put(buf, cap, &off, NFCTH_TUPLE_L3PROTONUM, &l3, sizeof l3);
  nl_put(buf, cap, &off, NFCTH_TUPLE_L4PROTONUM, &proto, sizeof proto);
  nl_end(tuple, buf, off);
  if (add) {
    nl_put(buf, cap, &off, NFCTH_QUEUE_NUM, &zero, sizeof zero);
    // The kernel requires one expectation class; nothing ever creates an expectation for it.
    struct nlattr *policy = nl_put(buf, cap, &off, NFCTH_POLICY | NLA_F_NESTED, NULL, 0);
    nl_put(buf, cap, &off, NFCTH_POLICY_SET_NUM, &one, sizeof one);
    struct nlattr *set = nl_put(buf, cap, &off, NFCTH_POLICY_SET | NLA_F_NESTED, NULL, 0);
    nl_put(buf, cap, &off, NFCTH_POLICY_NAME, name, nlen + 1);
    nl_put(buf, cap, &off, NFCTH_POLICY_EXPECT_MAX, &one, sizeof one);
    nl_put(buf, cap, &off, NFCTH_POLICY_EXPECT_TIMEOUT, &one, sizeof one);
    nl_end(set, buf, off);
    nl_end(policy, buf, off);
    nl_put(buf, cap, &off, NFCTH_PRIV_DATA_LEN, &zero, sizeof zero);
    uint32_t disabled = htonl(NFCT_HELPER_STATUS_DISABLED);
    nl_put(buf, cap, &off, NFCTH_STATUS, &disabled, sizeof disabled);
  }
  nlh->nlmsg_len = (uint32_t)off;
  int err = nl_call(NETLINK_NETFILTER, buf, off);
  if (err != 0) return throw_errno(env, add ? "nfnetlink cthelper new" : "nfnetlink cthelper del", err);
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"open", NULL, tg_open, NULL, NULL, NULL, napi_default, NULL},
      {"configure", NULL, tg_configure, NULL, NULL, NULL, napi_default, NULL},
      {"readBatch", NULL, tg_read_batch, NULL, NULL, NULL, napi_default, NULL},
      {"writeBatch", NULL, tg_write_batch, NULL, NULL, NULL, napi_default, NULL},
      {"eventfd", NULL, tg_eventfd, NULL, NULL, NULL, napi_default, NULL},
      {"wake", NULL, tg_wake, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, tg_close, NULL, NULL, NULL, napi_default, NULL},
      {"steer", NULL, tg_steer, NULL, NULL, NULL, napi_default, NULL},
      {"dhcpSocket", NULL, tg_dhcp_socket, NULL, NULL, NULL, napi_default, NULL},
      {"bpfLoad", NULL, tg_bpf_load, NULL, NULL, NULL, napi_default, NULL},
      {"tcxAttach", NULL, tg_tcx_attach, NULL, NULL, NULL, napi_default, NULL},
      {"tcxCount", NULL, tg_tcx_count, NULL, NULL, NULL, napi_default, NULL},
      {"bpfMapCreate", NULL, tg_bpf_map_create, NULL, NULL, NULL, napi_default, NULL},
      {"bpfMapWrite", NULL, tg_bpf_map_write, NULL, NULL, NULL, napi_default, NULL},
      {"bpfMapCount", NULL, tg_bpf_map_count, NULL, NULL, NULL, napi_default, NULL},
      {"bpfMapRead", NULL, tg_bpf_map_read, NULL, NULL, NULL, napi_default, NULL},
      {"bpfTestRun", NULL, tg_bpf_test_run, NULL, NULL, NULL, napi_default, NULL},
      {"bpfMapPop", NULL, tg_bpf_map_pop, NULL, NULL, NULL, napi_default, NULL},
      {"ctHelper", NULL, tg_ct_helper, NULL, NULL, NULL, napi_default, NULL},
      {"tcFilter", NULL, tg_tc_filter, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  napi_value v;
  napi_create_int32(env, MAX_PACKET, &v);
  napi_set_named_property(env, exports, "MAX_PACKET", v);
  return exports;
}

NAPI_MODULE_INIT() { return init(env, exports); }
