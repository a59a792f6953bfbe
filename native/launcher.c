/*
 * jobworker-launcher: starts one job (see DESIGN.md, "A small launcher of our
 * own, in C"). Shaped after runc's nsexec and tini: one short function per
 * step, every system call checked, failures reported with the step's name
 * and errno.
 *
 * The same binary is the spawner (`jobworker-launcher --spawner`, see
 * spawner.c): the small process the server starts once, which forks and
 * execs the launcher for every job.
 *
 * Usage (argv only, never a shell; only the server writes it):
 *   jobworker-launcher [--cgroup-procs FILE]... [--uid N --gid N]
 *     [--hostname NAME] [--scratch DIR] [--tmpfs-size BYTES]
 *     [--cgroup2-view | --cgroup1-view NAME...] [--search-path DIRS]
 *     [--approve] [--no-seccomp] [--file-size-limit BYTES]
 *     [--no-pid-ns] [--no-mount-ns] [--no-uts-ns] [--no-ipc-ns]
 *     [--no-net-ns] [--no-cgroup-ns]
 *
 * The launcher runs as root with a fixed, empty environment: nothing the
 * caller controls reaches root-side code (no LD_PRELOAD, no libc tunables;
 * the binary is linked statically when the host allows). What to run — the
 * program, its arguments, environment and working directory — comes from
 * the server on fd 4 (job-spec.c) and is read by the command's process only
 * after it has dropped to the job's uid; that process also resolves the
 * program and enters the working directory as that uid, so every check of a
 * caller's path tells the caller only what the job itself could learn.
 *
 * File descriptors given by the caller: 0 is /dev/null, 1 and 2 are the job's
 * output file, 3 is the status channel (launcher to server), 4 the spec
 * channel (server to launcher: the job spec, then "exec\n" or anything else
 * in answer to "program" with --approve). One direction each, so a launcher
 * that fails before reading the spec costs the server a failed write on
 * fd 4, never the status it wrote on fd 3.
 *
 * Status protocol (fd 3, launcher to server), ASCII lines, then EOF:
 *   "program <len> <path>\n"    the real path of the program about to run
 *                              (<len> bytes); with --approve the launcher
 *                              then waits for "exec\n" on fd 4 and runs
 *                              nothing on anything else;
 *   "ok\n"                     the command has been exec'ed;
 *   "error <step> <errno>\n"   setup or exec failed; <step> is one word
 *                              ("cgroup", "unshare", "chdir", "resolve",
 *                              "exec", ...) and <errno> a decimal errno. The
 *                              launcher then exits 127.
 * EOF without "ok" or "error" means the launcher was killed before it could
 * tell.
 *
 * Processes. With a pid namespace (the default):
 *   outer (host pid the server sees) -> init (PID 1 inside) -> command (PID 2)
 * The outer process joins the cgroups and unshares the namespaces; init sets
 * them up (mounts.c: a read-only host, private temporary folders, the
 * scratch folder, a fresh /proc, its own cgroup's view; hostname, loopback),
 * forks the command, reports on fd 3, reaps every process that reparents to
 * it and forwards signals to the command. When the command ends, init exits
 * and the kernel kills whatever is left in the namespace (double-forked
 * daemons included). Init passes the command's raw wait status to the outer
 * process on a private "result" pipe, because init itself cannot die of the
 * command's signal: PID 1 is immune to signals sent from inside its own
 * namespace, itself included. The outer process forwards signals to init and
 * finally exits the way the command did: the same exit code, or the same
 * signal re-raised on itself (so the server's waitpid sees WIFSIGNALED).
 * If init dies without a result (SIGKILL from the server), the outer process
 * passes init's own status on instead.
 *
 * The command's process, between fork and exec: drops to the job's uid/gid
 * with no supplementary groups, sets no_new_privs, reads the job spec, sets
 * its resource limits, enters the working directory, resolves the program,
 * installs the system call filter (seccomp.c), closes every other fd and
 * execs.
 *
 * With --no-pid-ns there is no init: the outer process sets up the other
 * namespaces itself, forks the command directly and does the same reporting,
 * forwarding and waiting. Orphans then reparent to the host's reaper; the
 * server's cgroup kill removes them.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <dirent.h>
#include <unistd.h>
#include "launcher.h"

/* A job's soft limit on open files: what select() can handle and what
 * systemd gives services; the hard limit stays, for jobs that raise it. */
#define JOB_NOFILE_SOFT 1024

/* Signals the server (or a terminal) may send that the command should get. */
static const int FORWARDED_SIGNALS[] = { SIGTERM, SIGINT,  SIGHUP,
					 SIGQUIT, SIGUSR1, SIGUSR2 };

/* ---- reporting ---------------------------------------------------------- */

int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Writes one status line. If nobody reads fd 3 (run by hand, or the server
 * is gone) the line goes to stderr, the job's output, instead. */
void report(const char *line)
{
	if (write_all(STATUS_FD, line, strlen(line)) < 0)
		fprintf(stderr, "jobworker-launcher: %s", line);
}

static void report_error(const char *step, int err)
{
	char line[96];
	snprintf(line, sizeof line, "error %s %d\n", step, err);
	report(line);
}

_Noreturn void fail(const char *step, int err)
{
	report_error(step, err);
	_exit(EXIT_SETUP_FAILED);
}

/* ---- arguments ---------------------------------------------------------- */

static int parse_number(const char *text, unsigned long long max,
			unsigned long long *out)
{
	char *end;
	errno = 0;
	unsigned long long value = strtoull(text, &end, 10);
	if (errno != 0 || end == text || *end != '\0' || text[0] == '-' ||
	    value > max)
		return -1;
	*out = value;
	return 0;
}

static int parse_id(const char *text, unsigned int *out)
{
	unsigned long long value;
	/* (unsigned)-1 is "no change" to setuid and friends: never an id. */
	if (parse_number(text, (unsigned int)-1 - 1, &value) < 0)
		return -1;
	*out = (unsigned int)value;
	return 0;
}

/* A flag without a value: true if `arg` is one (and applied). */
static bool parse_switch(const char *arg, struct config *cfg)
{
	static const struct {
		const char *name;
		int ns_flag;
	} NAMESPACE_SWITCHES[] = {
		{ "--no-pid-ns", CLONE_NEWPID },   { "--no-mount-ns", CLONE_NEWNS },
		{ "--no-uts-ns", CLONE_NEWUTS },   { "--no-ipc-ns", CLONE_NEWIPC },
		{ "--no-net-ns", CLONE_NEWNET },   { "--no-cgroup-ns", CLONE_NEWCGROUP },
	};
	for (size_t i = 0; i < sizeof NAMESPACE_SWITCHES / sizeof NAMESPACE_SWITCHES[0]; i++) {
		if (strcmp(arg, NAMESPACE_SWITCHES[i].name) == 0) {
			cfg->ns_flags &= ~NAMESPACE_SWITCHES[i].ns_flag;
			return true;
		}
	}
	if (strcmp(arg, "--approve") == 0)
		cfg->approve = true;
	else if (strcmp(arg, "--no-seccomp") == 0)
		cfg->seccomp = false;
	else if (strcmp(arg, "--cgroup2-view") == 0)
		cfg->cgroup2_view = true;
	else
		return false;
	return true;
}

/* An option with a value; -1 when unknown or malformed. */
static int parse_option(const char *arg, const char *value, struct config *cfg,
			bool *have_uid, bool *have_gid)
{
	unsigned int id;
	if (strcmp(arg, "--cgroup-procs") == 0) {
		if (cfg->n_procs_files == MAX_PROCS_FILES)
			return -1;
		cfg->procs_files[cfg->n_procs_files++] = value;
	} else if (strcmp(arg, "--cgroup1-view") == 0) {
		if (cfg->n_cgroup1_views == MAX_CGROUP1_VIEWS ||
		    strchr(value, '/') != NULL)
			return -1;
		cfg->cgroup1_views[cfg->n_cgroup1_views++] = value;
	} else if (strcmp(arg, "--uid") == 0) {
		if (parse_id(value, &id) < 0)
			return -1;
		cfg->uid = id;
		*have_uid = true;
	} else if (strcmp(arg, "--gid") == 0) {
		if (parse_id(value, &id) < 0)
			return -1;
		cfg->gid = id;
		*have_gid = true;
	} else if (strcmp(arg, "--hostname") == 0) {
		cfg->hostname = value;
	} else if (strcmp(arg, "--scratch") == 0) {
		if (value[0] != '/')
			return -1;
		cfg->scratch = value;
	} else if (strcmp(arg, "--tmpfs-size") == 0) {
		unsigned long long bytes;
		if (parse_number(value, ULLONG_MAX, &bytes) < 0)
			return -1;
		cfg->tmpfs_size = value;
	} else if (strcmp(arg, "--search-path") == 0) {
		cfg->search_path = value;
	} else if (strcmp(arg, "--file-size-limit") == 0) {
		if (parse_number(value, RLIM_INFINITY - 1,
				 &cfg->file_size_limit) < 0)
			return -1;
		cfg->limit_file_size = true;
	} else {
		return -1;
	}
	return 0;
}

static int parse_args(int argc, char **argv, struct config *cfg)
{
	bool have_uid = false, have_gid = false;
	memset(cfg, 0, sizeof *cfg);
	cfg->ns_flags = CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS |
			CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWCGROUP;
	cfg->seccomp = true;
	cfg->search_path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
	for (int i = 1; i < argc; i++) {
		if (parse_switch(argv[i], cfg))
			continue;
		if (i + 1 == argc ||
		    parse_option(argv[i], argv[i + 1], cfg, &have_uid, &have_gid) < 0)
			return -1; /* unknown flag, or an option without value */
		i++;
	}
	if (have_uid != have_gid)
		return -1;
	/* Without its own UTS namespace the hostname would be the host's. */
	if (cfg->hostname != NULL && !(cfg->ns_flags & CLONE_NEWUTS))
		return -1;
	/* A view of the job's own cgroup needs a cgroup and a mount namespace. */
	if ((cfg->cgroup2_view || cfg->n_cgroup1_views > 0) &&
	    (cfg->ns_flags & (CLONE_NEWCGROUP | CLONE_NEWNS)) !=
		    (CLONE_NEWCGROUP | CLONE_NEWNS))
		return -1;
	cfg->set_ids = have_uid;
	return 0;
}

/* ---- steps of the outer process ----------------------------------------- */

/* fds 3 and 4 must be the caller's channels: if one were closed, our own
 * pipes would be given its number and the status would go nowhere. */
static int check_channel_fds(void)
{
	if (fcntl(STATUS_FD, F_SETFD, FD_CLOEXEC) < 0 ||
	    fcntl(SPEC_FD, F_SETFD, FD_CLOEXEC) < 0) {
		fprintf(stderr, "jobworker-launcher: fds 3 and 4 must be the "
				"status and spec channels: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

static int write_pid(const char *path, pid_t pid)
{
	char text[24];
	int len = snprintf(text, sizeof text, "%d", (int)pid);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (write_all(fd, text, (size_t)len) < 0) {
		int err = errno;
		close(fd);
		errno = err;
		return -1;
	}
	/* cgroup v1 can report errors on close as well. */
	return close(fd);
}

/* Step 1: join every cgroup before any of the user's code exists, so all of
 * it is counted and limited from its first instruction. */
static void join_cgroups(const struct config *cfg)
{
	for (size_t i = 0; i < cfg->n_procs_files; i++)
		if (write_pid(cfg->procs_files[i], getpid()) < 0)
			fail(STEP_CGROUP, errno);
}

/* True when the reader of `fd` (a pipe or socket) has gone away. */
static bool reader_gone(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	int n;
	do
		n = poll(&p, 1, 0);
	while (n < 0 && errno == EINTR);
	return n > 0 && (p.revents & (POLLERR | POLLHUP)) != 0;
}

/* Step 2: die with our parent. The parent may have died between its fork
 * and our prctl; then the signal was never armed. getppid() cannot tell us
 * (we do not know whom to expect, and across a pid namespace it reads 0),
 * so check the channel to the parent instead: `lifeline` is a pipe or
 * socket only our parent reads; its reader gone means the parent is gone. */
static void die_with_parent(int lifeline)
{
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
		fail(STEP_PDEATHSIG, errno);
	if (reader_gone(lifeline))
		_exit(EXIT_SETUP_FAILED); /* nobody is left to report to */
}

static void noop_handler(int sig)
{
	(void)sig;
}

/* Blocks the forwarded signals and SIGCHLD, to be taken one at a time with
 * sigwaitinfo() (as tini does): no handler code runs, no global state.
 * The no-op handlers matter for init: a PID 1 only receives signals, from
 * its own namespace or an ancestor one, for which it has a handler. */
static void block_signals(sigset_t *waited)
{
	struct sigaction noop = { .sa_handler = noop_handler };
	struct sigaction ignore = { .sa_handler = SIG_IGN };
	sigemptyset(waited);
	sigaddset(waited, SIGCHLD);
	for (size_t i = 0; i < sizeof FORWARDED_SIGNALS / sizeof(int); i++)
		sigaddset(waited, FORWARDED_SIGNALS[i]);
	if (sigprocmask(SIG_BLOCK, waited, NULL) < 0)
		fail(STEP_SIGNALS, errno);
	for (int sig = 1; sig < NSIG; sig++)
		if (sigismember(waited, sig) == 1 &&
		    sigaction(sig, &noop, NULL) < 0)
			fail(STEP_SIGNALS, errno);
	/* A server that went away must not kill us through fd 3. */
	if (sigaction(SIGPIPE, &ignore, NULL) < 0)
		fail(STEP_SIGNALS, errno);
}

/* Step 3: new namespaces. For the mount, UTS, IPC, network and cgroup
 * namespaces this moves the caller; for the pid namespace only its
 * children. After step 1, so the cgroup namespace's root is the job's own
 * cgroup. */
static void enter_namespaces(const struct config *cfg)
{
	if (cfg->ns_flags != 0 && unshare(cfg->ns_flags) < 0)
		fail(STEP_UNSHARE, errno);
}

/* ---- namespace setup (init, or the outer process without a pid ns) ------ */

static void bring_up_loopback(void)
{
	struct ifreq ifr;
	int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (sock < 0)
		fail(STEP_LOOPBACK, errno);
	memset(&ifr, 0, sizeof ifr);
	memcpy(ifr.ifr_name, "lo", sizeof "lo");
	if (ioctl(sock, SIOCGIFFLAGS, &ifr) < 0)
		fail(STEP_LOOPBACK, errno);
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(sock, SIOCSIFFLAGS, &ifr) < 0)
		fail(STEP_LOOPBACK, errno);
	close(sock);
}

static void set_up_namespaces(const struct config *cfg)
{
	if (cfg->ns_flags & CLONE_NEWNS)
		set_up_file_system(cfg);
	if (cfg->hostname != NULL &&
	    sethostname(cfg->hostname, strlen(cfg->hostname)) < 0)
		fail(STEP_HOSTNAME, errno);
	if (cfg->ns_flags & CLONE_NEWNET)
		bring_up_loopback();
}

/* ---- the command's process ---------------------------------------------- */

static int close_fds_from_proc(int keep)
{
	DIR *dir = opendir("/proc/self/fd");
	struct dirent *entry;
	if (dir == NULL)
		return -1;
	while ((entry = readdir(dir)) != NULL) {
		int fd = atoi(entry->d_name);
		if (fd > 2 && fd != keep && fd != dirfd(dir))
			close(fd);
	}
	return closedir(dir);
}

/* Closes every fd above 2 except `keep`, so no server or launcher file
 * reaches the job (the status channel included: EOF there is the signal
 * that the command runs). */
static int close_other_fds(int keep)
{
	if ((keep > 3 && close_range(3, (unsigned int)keep - 1, 0) < 0) ||
	    close_range((unsigned int)keep + 1, ~0U, 0) < 0) {
		if (errno != ENOSYS) /* kernels before 5.9 */
			return -1;
		return close_fds_from_proc(keep);
	}
	return 0;
}

static int reset_signals(void)
{
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	sigset_t none;
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP &&
		    sigaction(sig, &dfl, NULL) < 0 && errno != EINVAL)
			return -1; /* EINVAL: signals glibc reserves */
	sigemptyset(&none);
	return sigprocmask(SIG_SETMASK, &none, NULL);
}

/* The job's resource limits that are not cgroup limits: no file past its
 * disk limit (a sparse file "written" by ftruncate counts by its size), no
 * core dumps (they would land outside the job's folders, owned by a uid a
 * later job gets), and a usual soft limit on open files. */
static int set_resource_limits(const struct config *cfg)
{
	struct rlimit no_core = { 0, 0 };
	struct rlimit files;
	if (cfg->limit_file_size) {
		struct rlimit size = { cfg->file_size_limit,
				       cfg->file_size_limit };
		if (setrlimit(RLIMIT_FSIZE, &size) < 0)
			return -1;
	}
	if (setrlimit(RLIMIT_CORE, &no_core) < 0 ||
	    getrlimit(RLIMIT_NOFILE, &files) < 0)
		return -1;
	if (files.rlim_cur > JOB_NOFILE_SOFT) {
		files.rlim_cur = JOB_NOFILE_SOFT;
		if (setrlimit(RLIMIT_NOFILE, &files) < 0)
			return -1;
	}
	return 0;
}

static int drop_privileges(const struct config *cfg, pid_t parent)
{
	if (cfg->set_ids) {
		if (setgroups(0, NULL) < 0 || setgid(cfg->gid) < 0)
			return -1;
		/* Going from uid 0 to another clears every capability. */
		if (setuid(cfg->uid) < 0)
			return -1;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -1;
	/* Armed after setuid, which disarms it. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
		return -1;
	if (getppid() != parent)
		_exit(EXIT_SETUP_FAILED); /* supervisor gone before the prctl */
	return 0;
}

/* Tells the server the real path of the program (every symlink resolved),
 * and with --approve waits for its "exec": the allow-list is checked on
 * what will run, after resolution, by the server. */
static int report_program(const struct config *cfg, const char *found)
{
	char real[PATH_MAX];
	char line[PATH_MAX + 32];
	char answer[8];
	size_t got = 0;
	if (realpath(found, real) == NULL)
		return -1;
	int len = snprintf(line, sizeof line, "program %zu %s\n", strlen(real),
			   real);
	if (len < 0 || (size_t)len >= sizeof line) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (write_all(STATUS_FD, line, (size_t)len) < 0)
		return -1;
	if (!cfg->approve)
		return 0;
	while (got < sizeof answer) {
		ssize_t n = read(SPEC_FD, answer + got, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (answer[got++] == '\n')
			break;
	}
	if (got == 5 && memcmp(answer, "exec\n", 5) == 0)
		return 0;
	errno = EPERM;
	return -1;
}

/* Step 4: everything between fork and exec, as the job's uid from the first
 * step on. Returns the failed step's name (errno set), or does not return. */
static const char *exec_command(const struct config *cfg, pid_t parent,
				int exec_fd)
{
	struct job_spec spec;
	char found[PATH_MAX];
	if (drop_privileges(cfg, parent) < 0)
		return STEP_DROP_PRIVILEGES;
	if (read_job_spec(SPEC_FD, &spec) < 0)
		return STEP_SPEC;
	if (set_resource_limits(cfg) < 0)
		return STEP_RLIMITS;
	if (chdir(spec.cwd) < 0)
		return STEP_CHDIR;
	if (find_program(spec.program, cfg->search_path, found, sizeof found) < 0)
		return STEP_RESOLVE;
	if (report_program(cfg, found) < 0)
		return errno == EPERM ? STEP_DENIED : STEP_RESOLVE;
	spec.argv[0] = found;
	if (close_other_fds(exec_fd) < 0)
		return STEP_CLOSE_FDS;
	if (reset_signals() < 0)
		return STEP_SIGNALS;
	/* Last: the filter also binds this code, and execve must pass it. */
	if (cfg->seccomp && install_seccomp_filter() < 0)
		return STEP_SECCOMP;
	execve(found, spec.argv, spec.envp);
	return STEP_EXEC;
}

static _Noreturn void run_command(const struct config *cfg, pid_t parent,
				  int exec_fd)
{
	const char *step = exec_command(cfg, parent, exec_fd);
	char text[64];
	int len = snprintf(text, sizeof text, "%s %d", step, errno);
	(void)write_all(exec_fd, text, (size_t)len);
	_exit(EXIT_SETUP_FAILED);
}

/* ---- supervision (init, or the outer process without a pid ns) ---------- */

/* Forks the command and tells the server, on fd 3, whether its exec worked:
 * the exec pipe is close-on-exec, so EOF with no data means it did. Then
 * closes fd 3, so the server sees EOF right away. */
static pid_t start_command(const struct config *cfg)
{
	int exec_pipe[2];
	char text[64];
	ssize_t n;
	pid_t self = getpid();
	if (pipe2(exec_pipe, O_CLOEXEC) < 0)
		fail(STEP_EXEC_PIPE, errno);
	pid_t pid = fork();
	if (pid < 0)
		fail(STEP_FORK, errno);
	if (pid == 0) {
		close(exec_pipe[0]);
		run_command(cfg, self, exec_pipe[1]);
	}
	close(exec_pipe[1]);
	do
		n = read(exec_pipe[0], text, sizeof text - 1);
	while (n < 0 && errno == EINTR);
	close(exec_pipe[0]);
	close(SPEC_FD);
	if (n > 0) {
		char line[96];
		text[n] = '\0';
		snprintf(line, sizeof line, "error %s\n", text);
		report(line);
	} else {
		report("ok\n");
	}
	close(STATUS_FD);
	return pid;
}

/* Reaps every child that has ended (orphans reparent to init); true once
 * `child` is among them, its wait status in *status. */
static bool reap_children(pid_t child, int *status)
{
	bool done = false;
	int st;
	pid_t pid;
	while ((pid = waitpid(-1, &st, WNOHANG)) != 0) {
		if (pid < 0) {
			if (errno == EINTR)
				continue;
			break; /* ECHILD: nothing left */
		}
		if (pid == child) {
			*status = st;
			done = true;
		}
	}
	return done;
}

/* Step 6: forwards signals to `child` and reaps until it ends; returns its
 * wait status. */
static int supervise(pid_t child, const sigset_t *waited)
{
	int status = 0;
	for (;;) {
		int sig = sigwaitinfo(waited, NULL);
		if (sig < 0) {
			if (errno == EINTR)
				continue;
			kill(child, SIGKILL);
			fail(STEP_SIGWAIT, errno);
		}
		if (sig != SIGCHLD)
			kill(child, sig); /* ESRCH: ended, SIGCHLD is pending */
		else if (reap_children(child, &status))
			return status;
	}
}

/* Ends this process the way the command ended: the same exit code, or the
 * same signal. */
static _Noreturn void exit_like(int status)
{
	if (WIFSIGNALED(status)) {
		int sig = WTERMSIG(status);
		struct sigaction dfl = { .sa_handler = SIG_DFL };
		struct rlimit no_core = { 0, 0 };
		sigset_t only;
		/* The command dumped its own core if it was to; not ours. */
		setrlimit(RLIMIT_CORE, &no_core);
		sigaction(sig, &dfl, NULL);
		sigemptyset(&only);
		sigaddset(&only, sig);
		sigprocmask(SIG_UNBLOCK, &only, NULL);
		kill(getpid(), sig);
		_exit(128 + sig); /* a signal whose default is not to end */
	}
	_exit(WIFEXITED(status) ? WEXITSTATUS(status) : EXIT_SETUP_FAILED);
}

/* PID 1 of the new pid namespace. Ends by writing the command's wait status
 * to `result_fd`; its exit then makes the kernel kill the rest of the
 * namespace. */
static _Noreturn void run_init(const struct config *cfg, int result_fd,
			       const sigset_t *waited)
{
	die_with_parent(result_fd);
	set_up_namespaces(cfg);
	pid_t command = start_command(cfg);
	int status = supervise(command, waited);
	if (write_all(result_fd, &status, sizeof status) < 0)
		_exit(EXIT_SETUP_FAILED);
	_exit(0);
}

/* Waits for init (forwarding signals to it) and passes on what it says. */
static _Noreturn void wait_for_init(pid_t init, int result_fd,
				    const sigset_t *waited)
{
	int init_status = supervise(init, waited);
	int status;
	ssize_t n;
	do
		n = read(result_fd, &status, sizeof status);
	while (n < 0 && errno == EINTR);
	exit_like(n == (ssize_t)sizeof status ? status : init_status);
}

int main(int argc, char **argv)
{
	struct config cfg;
	sigset_t waited;
	if (argc == 2 && strcmp(argv[1], "--spawner") == 0)
		return spawner_main();
	if (check_channel_fds() < 0)
		return EXIT_SETUP_FAILED;
	if (parse_args(argc, argv, &cfg) < 0)
		fail(STEP_USAGE, EINVAL);
	join_cgroups(&cfg);
	die_with_parent(STATUS_FD);
	block_signals(&waited);
	enter_namespaces(&cfg);

	if (!(cfg.ns_flags & CLONE_NEWPID)) {
		set_up_namespaces(&cfg);
		exit_like(supervise(start_command(&cfg), &waited));
	}

	int result[2];
	if (pipe2(result, O_CLOEXEC) < 0)
		fail(STEP_RESULT_PIPE, errno);
	pid_t init = fork();
	if (init < 0)
		fail(STEP_FORK, errno);
	if (init == 0) {
		close(result[0]);
		run_init(&cfg, result[1], &waited);
	}
	close(result[1]);
	close(STATUS_FD); /* init reports from here on */
	close(SPEC_FD);
	wait_for_init(init, result[0], &waited);
}
