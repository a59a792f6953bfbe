/*
 * Which file a job executes, found as the job's uid (so a user learns only
 * what that uid could learn) with execvp's rules, except that a bare name is
 * looked up on the server's fixed search path, never on the job's own PATH:
 * the server's allow-list names programs, and a PATH of the caller's choice
 * would let "echo" mean anything.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "launcher.h"

/* 0 when `path` is a regular file this uid may execute; else -1 with errno
 * as execve would set it (a folder is EISDIR, which reads better). */
static int check_executable(const char *path)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return -1;
	if (S_ISDIR(st.st_mode)) {
		errno = EISDIR;
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		errno = EACCES;
		return -1;
	}
	return access(path, X_OK);
}

static int copy_path(const char *path, char *found, size_t size)
{
	if (strlen(path) >= size) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(found, path);
	return 0;
}

int find_program(const char *name, const char *search_path, char *found,
		 size_t size)
{
	if (strchr(name, '/') != NULL) {
		/* A path: as given, relative to the working directory. */
		if (check_executable(name) < 0)
			return -1;
		return copy_path(name, found, size);
	}
	/* Like execvp: the first hit wins; a candidate that exists but cannot
	 * be run is remembered, so "not found" means not found anywhere. */
	int first_error = ENOENT;
	for (const char *dir = search_path; *dir != '\0';) {
		size_t len = strcspn(dir, ":");
		if (len > 0 && dir[0] == '/') {
			int n = snprintf(found, size, "%.*s/%s", (int)len, dir,
					 name);
			if (n < 0 || (size_t)n >= size) {
				if (first_error == ENOENT)
					first_error = ENAMETOOLONG;
			} else if (check_executable(found) == 0) {
				return 0;
			} else if (errno != ENOENT && errno != ENOTDIR &&
				   first_error == ENOENT) {
				first_error = errno;
			}
		}
		dir += len;
		if (*dir == ':')
			dir++;
	}
	errno = first_error;
	return -1;
}
