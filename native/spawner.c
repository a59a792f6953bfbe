/*
 * The spawner: a small process the server starts once (`jobworker-launcher
 * --spawner`), which forks and execs the launcher for every job, so the
 * server's own large process never forks (a fork of a Node process with a
 * few hundred MiB mapped cost most of a job's start, and ran in the
 * server's one thread). As containerd's shims and runc's nsexec do, the
 * work that must not wait on a busy event loop lives in a small native
 * process of its own.
 *
 * It talks with the server on fd 3 (a stream socket), in messages:
 *   u32 length (little-endian; of what follows), u8 type, u32 job handle,
 *   payload.
 * Server to spawner:
 *   START  argc (u32), argc NUL-terminated arguments for the launcher, the
 *          output file's path (NUL-terminated), then the job spec bytes
 *   INPUT  bytes for the launcher's spec channel (its fd 4)
 *   CLOSE  no more input: the spec channel is closed once written
 * Spawner to server:
 *   STARTED  the launcher's pid (u32)
 *   STATUS   bytes the launcher wrote on its status channel (its fd 3)
 *   EXITED   its raw wait status (i32); always after the last STATUS
 *
 * The launcher gets /dev/null as stdin, the job's output file (opened here,
 * O_APPEND, by the server's path) as stdout and stderr, a pipe as its status
 * channel and one as its spec channel, a session of its own, an empty
 * environment, and this very binary (/proc/self/exe) as its program. A
 * spawn that fails before the exec says so on the status channel, in the
 * launcher's words ("error spawn <errno>").
 *
 * It dies with the server (PR_SET_PDEATHSIG), and its launchers die with
 * it, so no job outlives the server unsupervised. EOF on fd 3 ends it.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>
#include "launcher.h"

#define CONTROL_FD 3
#define HEADER_BYTES 9 /* u32 length, u8 type, u32 handle */
/* A request is a job spec (a few MiB at most) with its arguments. */
#define MAX_MESSAGE_BYTES (64U * 1024 * 1024)

enum message_type {
	MSG_START = 1,
	MSG_INPUT = 2,
	MSG_CLOSE = 3,
	MSG_STARTED = 11,
	MSG_STATUS = 12,
	MSG_EXITED = 14,
};

/* Bytes waiting to be written to a non-blocking fd. */
struct buffer {
	char *data;
	size_t len;
	size_t off;
};

struct job {
	uint32_t handle;
	pid_t pid;
	int status_fd; /* read end of the launcher's fd 3; -1 once at EOF */
	int spec_fd; /* write end of the launcher's fd 4; -1 once closed */
	struct buffer spec;
	bool close_spec; /* close spec_fd once `spec` is written */
	bool reaped;
	int wait_status;
};

/* Signals the spawner ignores: a launcher's pipe closing under a write,
 * and the ones a terminal or a service manager sends the server's whole
 * group. The spawner ends when the server closes fd 3 (or dies): a SIGTERM
 * must not kill every job before the server's graceful stop reaches them. */
static const int IGNORED[] = { SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT };

static struct job *jobs;
static size_t n_jobs, cap_jobs;
static struct buffer out; /* messages to the server */
static struct buffer in; /* a message from the server, being read */

/* ---- buffers ------------------------------------------------------------ */

static int append(struct buffer *b, const void *data, size_t len)
{
	if (b->off > 0 && b->off == b->len) /* all written: start over */
		b->off = b->len = 0;
	char *grown = realloc(b->data, b->len + len);
	if (grown == NULL && b->len + len > 0)
		return -1;
	b->data = grown;
	memcpy(b->data + b->len, data, len);
	b->len += len;
	return 0;
}

/* Writes what `fd` takes now; -1 on an error other than EAGAIN. */
static int flush(int fd, struct buffer *b)
{
	while (b->off < b->len) {
		ssize_t n = write(fd, b->data + b->off, b->len - b->off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? 0 : -1;
		}
		b->off += (size_t)n;
	}
	free(b->data);
	*b = (struct buffer){ 0 };
	return 0;
}

static bool pending(const struct buffer *b)
{
	return b->off < b->len;
}

/* ---- messages to the server --------------------------------------------- */

static void put_u32(char *p, uint32_t v)
{
	p[0] = (char)(v & 0xff);
	p[1] = (char)((v >> 8) & 0xff);
	p[2] = (char)((v >> 16) & 0xff);
	p[3] = (char)((v >> 24) & 0xff);
}

static uint32_t get_u32(const char *p)
{
	const unsigned char *u = (const unsigned char *)p;
	return (uint32_t)u[0] | (uint32_t)u[1] << 8 | (uint32_t)u[2] << 16 |
	       (uint32_t)u[3] << 24;
}

static void send_message(uint8_t type, uint32_t handle, const void *payload,
			 size_t len)
{
	char header[HEADER_BYTES];
	put_u32(header, (uint32_t)(len + 5));
	header[4] = (char)type;
	put_u32(header + 5, handle);
	if (append(&out, header, sizeof header) < 0 ||
	    append(&out, payload, len) < 0)
		_exit(EXIT_SETUP_FAILED); /* out of memory: the server sees EOF */
}

static void send_u32(uint8_t type, uint32_t handle, uint32_t value)
{
	char payload[4];
	put_u32(payload, value);
	send_message(type, handle, payload, sizeof payload);
}

/* ---- jobs --------------------------------------------------------------- */

static struct job *find_job(uint32_t handle)
{
	for (size_t i = 0; i < n_jobs; i++)
		if (jobs[i].handle == handle)
			return &jobs[i];
	return NULL;
}

static struct job *add_job(void)
{
	if (n_jobs == cap_jobs) {
		size_t cap = cap_jobs == 0 ? 64 : cap_jobs * 2;
		struct job *grown = realloc(jobs, cap * sizeof *jobs);
		if (grown == NULL)
			return NULL;
		jobs = grown;
		cap_jobs = cap;
	}
	struct job *job = &jobs[n_jobs++];
	memset(job, 0, sizeof *job);
	job->status_fd = job->spec_fd = -1;
	return job;
}

static void close_spec(struct job *job)
{
	if (job->spec_fd >= 0)
		close(job->spec_fd);
	job->spec_fd = -1;
	free(job->spec.data);
	job->spec = (struct buffer){ 0 };
}

/* Relays what the launcher wrote on its status channel; true at EOF. */
static bool relay_status(struct job *job)
{
	char chunk[4096];
	for (;;) {
		ssize_t n = read(job->status_fd, chunk, sizeof chunk);
		if (n > 0) {
			send_message(MSG_STATUS, job->handle, chunk, (size_t)n);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return false;
		close(job->status_fd); /* EOF, or an error: nothing more comes */
		job->status_fd = -1;
		return true;
	}
}

/* A job is done once reaped and its status read to the end: EXITED goes
 * after the last STATUS, so the server has every word before the end. */
static void finish_if_done(struct job *job)
{
	if (!job->reaped || job->status_fd >= 0)
		return;
	send_u32(MSG_EXITED, job->handle, (uint32_t)job->wait_status);
	close_spec(job);
	*job = jobs[--n_jobs];
}

static void reap(void)
{
	int status;
	pid_t pid;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (size_t i = 0; i < n_jobs; i++) {
			if (jobs[i].pid != pid)
				continue;
			jobs[i].reaped = true;
			jobs[i].wait_status = status;
			close_spec(&jobs[i]);
			/* Whatever it wrote is in the pipe now: read it all. */
			if (jobs[i].status_fd >= 0)
				relay_status(&jobs[i]);
			finish_if_done(&jobs[i]);
			break;
		}
	}
}

/* ---- starting a launcher ------------------------------------------------ */

/* In the child: fds 0-4 as the launcher wants them, then exec. Any failure
 * is told on the status channel, as the launcher tells its own. */
static _Noreturn void exec_launcher(char **argv, const char *output_path,
				    int status_fd, int spec_fd)
{
	char line[64];
	int step_errno;
	const char *step = STEP_SPAWN;
	sigset_t none;
	char *no_env[] = { NULL };
	int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	int output_fd = open(output_path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
	if (null_fd < 0 || output_fd < 0 || setsid() < 0 ||
	    dup2(null_fd, 0) < 0 || dup2(output_fd, 1) < 0 ||
	    dup2(output_fd, 2) < 0 || dup2(status_fd, STATUS_FD) != STATUS_FD ||
	    dup2(spec_fd, SPEC_FD) != SPEC_FD ||
	    close_range(SPEC_FD + 1, ~0U, 0) < 0)
		goto failed;
	/* What the spawner ignores is ignored across exec too: not for the launcher. */
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	for (size_t i = 0; i < sizeof IGNORED / sizeof IGNORED[0]; i++)
		if (sigaction(IGNORED[i], &dfl, NULL) < 0)
			goto failed;
	sigemptyset(&none);
	if (sigprocmask(SIG_SETMASK, &none, NULL) < 0)
		goto failed;
	execve("/proc/self/exe", argv, no_env);
failed:
	step_errno = errno;
	int len = snprintf(line, sizeof line, "error %s %d\n", step, step_errno);
	(void)write_all(status_fd, line, (size_t)len);
	_exit(EXIT_SETUP_FAILED);
}

/* START: argc, the arguments, the output path, then the spec. */
static void start_job(uint32_t handle, char *payload, size_t len)
{
	if (len < 4)
		_exit(EXIT_SETUP_FAILED);
	uint32_t argc = get_u32(payload);
	char *p = payload + 4, *end = payload + len;
	char **argv = calloc((size_t)argc + 1, sizeof *argv);
	if (argv == NULL || argc > len)
		_exit(EXIT_SETUP_FAILED);
	for (uint32_t i = 0; i <= argc; i++) { /* argc arguments, then the path */
		char *nul = memchr(p, '\0', (size_t)(end - p));
		if (nul == NULL)
			_exit(EXIT_SETUP_FAILED); /* the server sent garbage: a bug */
		if (i < argc)
			argv[i] = p;
		else
			break;
		p = nul + 1;
	}
	const char *output_path = p;
	char *spec = p + strlen(p) + 1;
	int status_pipe[2], spec_pipe[2];
	struct job *job = add_job();
	if (job == NULL || pipe2(status_pipe, O_CLOEXEC) < 0 ||
	    pipe2(spec_pipe, O_CLOEXEC) < 0)
		_exit(EXIT_SETUP_FAILED);
	pid_t pid = fork();
	if (pid == 0)
		exec_launcher(argv, output_path, status_pipe[1], spec_pipe[0]);
	free(argv);
	close(status_pipe[1]);
	close(spec_pipe[0]);
	job->handle = handle;
	job->status_fd = status_pipe[0];
	job->spec_fd = spec_pipe[1];
	fcntl(job->status_fd, F_SETFL, O_NONBLOCK);
	fcntl(job->spec_fd, F_SETFL, O_NONBLOCK);
	if (pid < 0) {
		/* No process: say so as a launcher would, and end it at once. */
		char line[64];
		int n = snprintf(line, sizeof line, "error %s %d\n", STEP_FORK, errno);
		send_message(MSG_STATUS, handle, line, (size_t)n);
		close(job->status_fd);
		job->status_fd = -1;
		job->reaped = true;
		job->wait_status = EXIT_SETUP_FAILED << 8;
		finish_if_done(job);
		return;
	}
	job->pid = pid;
	send_u32(MSG_STARTED, handle, (uint32_t)pid);
	if (append(&job->spec, spec, (size_t)(end - spec)) < 0)
		_exit(EXIT_SETUP_FAILED);
}

static void handle_message(char *message, size_t len)
{
	uint8_t type = (uint8_t)message[0];
	uint32_t handle = get_u32(message + 1);
	char *payload = message + 5;
	size_t payload_len = len - 5;
	if (type == MSG_START) {
		start_job(handle, payload, payload_len);
		return;
	}
	struct job *job = find_job(handle);
	if (job == NULL || job->spec_fd < 0)
		return; /* ended meanwhile: nobody to give it to */
	if (type == MSG_INPUT && append(&job->spec, payload, payload_len) < 0)
		_exit(EXIT_SETUP_FAILED);
	if (type == MSG_CLOSE)
		job->close_spec = true;
}

/* Reads what the server sent; handles every whole message. False at EOF. */
static bool read_control(void)
{
	char chunk[65536];
	ssize_t n;
	do
		n = read(CONTROL_FD, chunk, sizeof chunk);
	while (n < 0 && errno == EINTR);
	if (n < 0 && errno == EAGAIN)
		return true;
	if (n <= 0)
		return false;
	if (append(&in, chunk, (size_t)n) < 0)
		_exit(EXIT_SETUP_FAILED);
	while (in.len - in.off >= 4) {
		uint32_t len = get_u32(in.data + in.off);
		if (len < 5 || len > MAX_MESSAGE_BYTES)
			_exit(EXIT_SETUP_FAILED); /* out of step with the server */
		if (in.len - in.off - 4 < len)
			break;
		handle_message(in.data + in.off + 4, len);
		in.off += 4 + (size_t)len;
	}
	if (in.off == in.len) {
		free(in.data);
		in = (struct buffer){ 0 };
	}
	return true;
}

/* ---- the loop ----------------------------------------------------------- */

static void flush_spec(struct job *job)
{
	if (job->spec_fd < 0)
		return;
	if (flush(job->spec_fd, &job->spec) < 0) {
		close_spec(job); /* the launcher went away: its exit says why */
		return;
	}
	if (!pending(&job->spec) && job->close_spec)
		close_spec(job);
}

static int run_loop(int signal_fd)
{
	for (;;) {
		size_t n = 2 + 2 * n_jobs;
		struct pollfd *fds = calloc(n, sizeof *fds);
		if (fds == NULL)
			return EXIT_SETUP_FAILED;
		fds[0] = (struct pollfd){ .fd = CONTROL_FD,
					  .events = POLLIN | (pending(&out) ? POLLOUT : 0) };
		fds[1] = (struct pollfd){ .fd = signal_fd, .events = POLLIN };
		for (size_t i = 0; i < n_jobs; i++) {
			fds[2 + 2 * i] = (struct pollfd){ .fd = jobs[i].status_fd,
							   .events = POLLIN };
			fds[3 + 2 * i] = (struct pollfd){
				.fd = pending(&jobs[i].spec) || jobs[i].close_spec
					      ? jobs[i].spec_fd
					      : -1,
				.events = POLLOUT
			};
		}
		size_t polled = n_jobs;
		if (poll(fds, n, -1) < 0 && errno != EINTR) {
			free(fds);
			return EXIT_SETUP_FAILED;
		}
		/* Jobs first, by handle: the control message may add or end some. */
		uint32_t *handles = calloc(polled + 1, sizeof *handles);
		for (size_t i = 0; handles != NULL && i < polled; i++)
			handles[i] = jobs[i].handle;
		for (size_t i = 0; handles != NULL && i < polled; i++) {
			struct job *job = find_job(handles[i]);
			if (job == NULL)
				continue;
			if (fds[2 + 2 * i].revents != 0 && job->status_fd >= 0 &&
			    relay_status(job))
				finish_if_done(job);
			else if (fds[3 + 2 * i].revents != 0)
				flush_spec(job);
		}
		free(handles);
		if (fds[1].revents != 0) {
			struct signalfd_siginfo info;
			while (read(signal_fd, &info, sizeof info) > 0)
				;
			reap();
		}
		bool open = fds[0].revents & (POLLIN | POLLHUP | POLLERR) ? read_control()
									 : true;
		free(fds);
		if (flush(CONTROL_FD, &out) < 0 || !open)
			return 0; /* the server is gone: so are we, and our jobs */
		for (size_t i = 0; i < n_jobs; i++)
			flush_spec(&jobs[i]);
	}
}

int spawner_main(void)
{
	sigset_t child;
	struct sigaction ignore = { .sa_handler = SIG_IGN };
	pid_t parent = getppid();
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || getppid() != parent)
		return EXIT_SETUP_FAILED;
	for (size_t i = 0; i < sizeof IGNORED / sizeof IGNORED[0]; i++)
		if (sigaction(IGNORED[i], &ignore, NULL) < 0)
			return EXIT_SETUP_FAILED;
	sigemptyset(&child);
	sigaddset(&child, SIGCHLD);
	int signal_fd = signalfd(-1, &child, SFD_NONBLOCK | SFD_CLOEXEC);
	if (signal_fd < 0 || sigprocmask(SIG_BLOCK, &child, NULL) < 0 ||
	    fcntl(CONTROL_FD, F_SETFL, O_NONBLOCK) < 0 ||
	    fcntl(CONTROL_FD, F_SETFD, FD_CLOEXEC) < 0)
		return EXIT_SETUP_FAILED;
	return run_loop(signal_fd);
}
