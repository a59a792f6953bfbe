/*
 * The default system call filter of every job, modelled on Docker's default
 * seccomp profile for a container without capabilities: what an
 * unprivileged job never needs and what widens the kernel's attack surface
 * is refused with EPERM, the rest is allowed.
 *
 * Hand-built classic BPF rather than libseccomp: the filter is a short deny
 * list plus four argument checks, which needs no library, no extra package
 * to build the launcher, and keeps the launcher linkable statically. The
 * price is per-architecture care, taken below: only the build's own
 * architecture is allowed (a 32-bit or x32 call would bypass a filter keyed
 * on 64-bit numbers), and system calls newer than the kernel headers the
 * launcher was built with answer ENOSYS, as on an older kernel, so a
 * kernel upgrade exposes nothing that was not reviewed here.
 */
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include "launcher.h"

#if defined(__x86_64__)
#define FILTER_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define FILTER_ARCH AUDIT_ARCH_AARCH64
#endif

#ifndef JOBWORKER_MAX_SYSCALL
#error "build.ts defines JOBWORKER_MAX_SYSCALL: the highest system call number in the headers"
#endif

#ifdef FILTER_ARCH

/* Refused outright: kernel modules and kexec, the kernel keyring, BPF and
 * perf (large attack surface, host-wide side channels), new mounts and
 * namespace changes (a job keeps the view it was given), clocks, swap,
 * reboot, accounting, quotas, io_uring (a second system call interface
 * that seccomp cannot see into), userfaultfd (a tool of kernel exploits)
 * and the legacy calls Docker refuses too. */
static const int BLOCKED[] = {
	__NR_acct,	      __NR_add_key,	   __NR_bpf,
	__NR_clock_adjtime,   __NR_clock_settime,  __NR_settimeofday,
	__NR_delete_module,   __NR_finit_module,   __NR_init_module,
	__NR_kexec_load,      __NR_kexec_file_load, __NR_keyctl,
	__NR_request_key,     __NR_perf_event_open, __NR_fanotify_init,
	__NR_mount,	      __NR_umount2,	   __NR_pivot_root,
	__NR_chroot,	      __NR_open_tree,	   __NR_move_mount,
	__NR_fsopen,	      __NR_fsconfig,	   __NR_fsmount,
	__NR_fspick,	      __NR_mount_setattr,  __NR_setns,
	__NR_swapon,	      __NR_swapoff,	   __NR_reboot,
	__NR_quotactl,	      __NR_quotactl_fd,	   __NR_open_by_handle_at,
	__NR_lookup_dcookie,  __NR_syslog,	   __NR_userfaultfd,
	__NR_io_uring_setup,  __NR_io_uring_enter, __NR_io_uring_register,
	__NR_kcmp,	      __NR_nfsservctl,	   __NR_vhangup,
#ifdef __NR_create_module
	__NR_create_module,
#endif
#ifdef __NR_get_kernel_syms
	__NR_get_kernel_syms,
#endif
#ifdef __NR_query_module
	__NR_query_module,
#endif
#ifdef __NR_uselib
	__NR_uselib,
#endif
#ifdef __NR_ustat
	__NR_ustat,
#endif
#ifdef __NR_sysfs
	__NR_sysfs,
#endif
#ifdef __NR__sysctl
	__NR__sysctl,
#endif
#ifdef __NR_iopl
	__NR_iopl,
#endif
#ifdef __NR_ioperm
	__NR_ioperm,
#endif
};

/* Namespace flags: clone and unshare may not make new namespaces (a new
 * user namespace would give the job root within it, and with it the mount
 * and network code of the kernel). CLONE_NEWTIME shares its bit with
 * clone's CSIGNAL, so it is checked for unshare only. */
#define CLONE_NEW_ANY                                                          \
	(CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC |        \
	 CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET)
#define CLONE_NEWTIME_FLAG 0x00000080

/* personality(2) values Docker allows: plain Linux, its 32-bit flavour,
 * UNAME26 on either, and the query. Anything else would turn off ASLR or
 * make data executable. */
static const unsigned int PERSONALITIES[] = { 0x0, 0x8, 0x20000, 0x20008,
					      0xffffffff };

#define MAX_FILTER 160

struct filter {
	struct sock_filter code[MAX_FILTER];
	unsigned short len;
};

static void emit(struct filter *f, unsigned short op, unsigned char jt,
		 unsigned char jf, unsigned int k)
{
	if (f->len < MAX_FILTER)
		f->code[f->len] = (struct sock_filter){ op, jt, jf, k };
	f->len++; /* past MAX_FILTER: install refuses (checked there) */
}

static void load_nr(struct filter *f)
{
	emit(f, BPF_LD | BPF_W | BPF_ABS, 0, 0, offsetof(struct seccomp_data, nr));
}

/* The low 32 bits of argument 0 (flags, requests, families fit in them). */
static void load_arg0(struct filter *f)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	emit(f, BPF_LD | BPF_W | BPF_ABS, 0, 0, offsetof(struct seccomp_data, args[0]));
#else
	emit(f, BPF_LD | BPF_W | BPF_ABS, 0, 0,
	     offsetof(struct seccomp_data, args[0]) + 4);
#endif
}

static void ret(struct filter *f, unsigned int action)
{
	emit(f, BPF_RET | BPF_K, 0, 0, action);
}

#define ALLOW SECCOMP_RET_ALLOW
#define REFUSE (SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA))
#define UNKNOWN (SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA))

/* if (nr != `nr`) skip the `len` instructions that follow. */
static void only_for(struct filter *f, int nr, unsigned char len)
{
	load_nr(f);
	emit(f, BPF_JMP | BPF_JEQ | BPF_K, 0, len, (unsigned int)nr);
}

/* Refuses `nr` when argument 0 has any of `mask`'s bits. 4 instructions. */
static void refuse_flags(struct filter *f, int nr, unsigned int mask)
{
	only_for(f, nr, 3);
	load_arg0(f);
	emit(f, BPF_JMP | BPF_JSET | BPF_K, 0, 1, mask);
	ret(f, REFUSE);
}

/* Refuses `nr` when argument 0 equals `value`. 4 instructions. */
static void refuse_value(struct filter *f, int nr, unsigned int value)
{
	only_for(f, nr, 3);
	load_arg0(f);
	emit(f, BPF_JMP | BPF_JEQ | BPF_K, 0, 1, value);
	ret(f, REFUSE);
}

static void build(struct filter *f)
{
	const size_t n_blocked = sizeof BLOCKED / sizeof BLOCKED[0];
	const size_t n_personalities = sizeof PERSONALITIES / sizeof PERSONALITIES[0];
	f->len = 0;
	/* Another architecture's numbering would bypass every check below. */
	emit(f, BPF_LD | BPF_W | BPF_ABS, 0, 0, offsetof(struct seccomp_data, arch));
	emit(f, BPF_JMP | BPF_JEQ | BPF_K, 1, 0, FILTER_ARCH);
	ret(f, SECCOMP_RET_KILL_PROCESS);
	load_nr(f);
#ifdef __x86_64__
	/* The x32 ABI: same architecture, numbers with bit 30 set. */
	emit(f, BPF_JMP | BPF_JGE | BPF_K, 0, 1, 0x40000000);
	ret(f, UNKNOWN);
#endif
	emit(f, BPF_JMP | BPF_JGT | BPF_K, 0, 1, JOBWORKER_MAX_SYSCALL);
	ret(f, UNKNOWN);
	/* clone3 passes its flags in memory, out of a filter's reach: ENOSYS
	 * makes libc fall back to clone, whose flags are checked. */
	emit(f, BPF_JMP | BPF_JEQ | BPF_K, 0, 1, __NR_clone3);
	ret(f, UNKNOWN);
	/* The deny list: each match jumps to the REFUSE after the list. */
	for (size_t i = 0; i < n_blocked; i++) {
		emit(f, BPF_JMP | BPF_JEQ | BPF_K,
		     (unsigned char)(n_blocked - i), 0, (unsigned int)BLOCKED[i]);
	}
	emit(f, BPF_JMP | BPF_JA, 0, 0, 1);
	ret(f, REFUSE);
	refuse_flags(f, __NR_clone, CLONE_NEW_ANY);
	refuse_flags(f, __NR_unshare, CLONE_NEW_ANY | CLONE_NEWTIME_FLAG);
	/* ptrace of processes that are not the tracer's children: a job may
	 * still be traced by its parent (PTRACE_TRACEME, as gdb starts one). */
	refuse_value(f, __NR_ptrace, PTRACE_ATTACH);
	refuse_value(f, __NR_ptrace, PTRACE_SEIZE);
	/* vsock is not network-namespaced: it would reach the hypervisor. */
	refuse_value(f, __NR_socket, AF_VSOCK);
	/* personality: only the values listed (each match jumps to the final
	 * ALLOW, which also ends the filter for every other call). */
	only_for(f, __NR_personality, (unsigned char)(n_personalities + 2));
	load_arg0(f);
	for (size_t i = 0; i < n_personalities; i++) {
		emit(f, BPF_JMP | BPF_JEQ | BPF_K,
		     (unsigned char)(n_personalities - i), 0, PERSONALITIES[i]);
	}
	ret(f, REFUSE);
	ret(f, ALLOW);
}

int install_seccomp_filter(void)
{
	struct filter f;
	build(&f);
	if (f.len > MAX_FILTER) {
		errno = E2BIG;
		return -1;
	}
	struct sock_fprog prog = { .len = f.len, .filter = f.code };
	return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog);
}

#else

int install_seccomp_filter(void)
{
	errno = ENOSYS; /* no filter for this architecture yet */
	return -1;
}

#endif
