/*
 * What the launcher's parts share: its configuration (from its own argv,
 * which only the server writes), the status channel, and one function per
 * part. See launcher.c for the whole picture.
 */
#ifndef JOBWORKER_LAUNCHER_H
#define JOBWORKER_LAUNCHER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
/* The STEP_* names reported on failure, generated from native/steps.json
 * (the worker words its messages from the same file). */
#include "steps.h"

/* The status channel to the server (launcher.c describes its lines), and
 * the channel from it: the job spec, then the answer to "program". */
#define STATUS_FD 3
#define SPEC_FD 4
#define EXIT_SETUP_FAILED 127
#define MAX_PROCS_FILES 16
#define MAX_CGROUP1_VIEWS 16

struct config {
	const char *procs_files[MAX_PROCS_FILES];
	size_t n_procs_files;
	bool set_ids;
	uid_t uid;
	gid_t gid;
	const char *hostname;
	int ns_flags; /* CLONE_NEW* flags to unshare */
	/* The job's scratch folder, kept visible and writable in its mount
	 * namespace whatever is mounted over its parents (NULL: none). */
	const char *scratch;
	/* Size option of the private /tmp, /var/tmp and /dev/shm (NULL: the
	 * kernel's default; the memory cgroup bounds them anyway). */
	const char *tmpfs_size;
	/* The job's view of its own cgroup: cgroup v2, or these v1 hierarchy
	 * folder names ("memory", "cpu,cpuacct"). */
	bool cgroup2_view;
	const char *cgroup1_views[MAX_CGROUP1_VIEWS];
	size_t n_cgroup1_views;
	/* Where bare program names are looked up (never the job's PATH). */
	const char *search_path;
	/* Wait for the server's "exec" after reporting the resolved program. */
	bool approve;
	bool seccomp;
	/* RLIMIT_FSIZE of the job: no file it writes may grow past this. */
	bool limit_file_size;
	unsigned long long file_size_limit;
};

/* ---- launcher.c --------------------------------------------------------- */

int write_all(int fd, const void *buf, size_t len);
/* Writes one status line to the server (or to stderr when nobody reads). */
void report(const char *line);
/* A setup step failed before the command ran: tell the server, exit 127. */
_Noreturn void fail(const char *step, int err);

/* ---- mounts.c: the job's view of the file system ------------------------ */

/* In the job's new mount namespace (as root, before the command exists):
 * private mounts, a read-only host, private /tmp, /var/tmp and /dev/shm,
 * the scratch folder writable, a fresh /proc and a view of only its own
 * cgroup. Fails through fail(). */
void set_up_file_system(const struct config *cfg);

/* ---- job-spec.c: what to run, read as the job's uid --------------------- */

struct job_spec {
	char *cwd;
	char *program; /* as the request names it: a path or a bare name */
	char **argv; /* argv[0] is left for the resolved program */
	char **envp;
};

/* Reads the spec the server wrote on `fd`. -1 with errno on failure. */
int read_job_spec(int fd, struct job_spec *spec);

/* ---- program.c: which file to execute ----------------------------------- */

/* Finds `name` as execvp would, but bare names only on `search_path`; the
 * path to execute goes to `found`. -1 with errno (ENOENT, EACCES, ...). */
int find_program(const char *name, const char *search_path, char *found,
		 size_t size);

/* ---- spawner.c: the long-lived process that forks launchers ------------- */

/* Runs the spawner on fd 3 (`jobworker-launcher --spawner`); returns its exit status. */
int spawner_main(void);

/* ---- seccomp.c: the default system call filter -------------------------- */

/* Installs the filter on this thread and its future children (needs
 * no_new_privs). -1 with errno. */
int install_seccomp_filter(void);

#endif
