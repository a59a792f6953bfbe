/*
 * The job spec: what to run, as the server writes it on the spec channel.
 * Read by the command's process after it has dropped to the job's uid, so a
 * flaw here can give away no more than that uid already has.
 *
 * Format: "<length>\n" (decimal), then <length> bytes of NUL-terminated
 * strings:
 *   cwd, program, argc, arg 1 .. arg argc, envc, env 1 .. env envc
 * where argc and envc are decimal and each env entry is "NAME=value". The
 * server checks sizes against the kernel's exec limits before it sends.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "launcher.h"

/* Far above anything execve accepts (a few MiB): a bound on a corrupt header. */
#define MAX_SPEC_BYTES (64UL * 1024 * 1024)
#define MAX_HEADER_BYTES 24

static int read_exactly(int fd, char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = read(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0) {
			errno = EPIPE; /* the server went away mid-spec */
			return -1;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* The "<length>\n" header, read a byte at a time so nothing after it is
 * consumed. */
static int read_length(int fd, size_t *length)
{
	char header[MAX_HEADER_BYTES];
	for (size_t i = 0; i < sizeof header; i++) {
		if (read_exactly(fd, &header[i], 1) < 0)
			return -1;
		if (header[i] != '\n')
			continue;
		header[i] = '\0';
		char *end;
		errno = 0;
		unsigned long value = strtoul(header, &end, 10);
		if (i == 0 || errno != 0 || *end != '\0' || header[0] == '-' ||
		    value > MAX_SPEC_BYTES)
			break;
		*length = value;
		return 0;
	}
	errno = EPROTO;
	return -1;
}

/* A count field: a decimal no larger than the strings left. */
static int parse_count(const char *text, size_t left, size_t *count)
{
	char *end;
	errno = 0;
	unsigned long value = strtoul(text, &end, 10);
	if (*text == '\0' || errno != 0 || *end != '\0' || text[0] == '-' ||
	    value > left)
		return -1;
	*count = value;
	return 0;
}

/* Splits `payload` (its last byte a NUL) into its strings. */
static char **split_strings(char *payload, size_t length, size_t *count)
{
	size_t n = 0;
	for (size_t i = 0; i < length; i++)
		n += payload[i] == '\0';
	char **strings = calloc(n + 1, sizeof *strings);
	if (strings == NULL)
		return NULL;
	char *p = payload;
	for (size_t i = 0; i < n; i++) {
		strings[i] = p;
		p += strlen(p) + 1;
	}
	*count = n;
	return strings;
}

int read_job_spec(int fd, struct job_spec *spec)
{
	size_t length, count, argc, envc;
	if (read_length(fd, &length) < 0)
		return -1;
	char *payload = malloc(length + 1);
	if (payload == NULL)
		return -1;
	if (read_exactly(fd, payload, length) < 0)
		return -1;
	payload[length] = '\0';
	if (length == 0 || payload[length - 1] != '\0')
		goto malformed;
	char **s = split_strings(payload, length, &count);
	if (s == NULL)
		return -1;
	/* cwd, program, argc, args, envc, envs */
	if (count < 4 || parse_count(s[2], count - 4, &argc) < 0 ||
	    parse_count(s[3 + argc], count - 4 - argc, &envc) < 0 ||
	    count != 4 + argc + envc)
		goto malformed;
	spec->cwd = s[0];
	spec->program = s[1];
	/* argv: a slot for the resolved program, the arguments, NULL. */
	spec->argv = calloc(argc + 2, sizeof *spec->argv);
	if (spec->argv == NULL)
		return -1;
	memcpy(&spec->argv[1], &s[3], argc * sizeof *s);
	spec->envp = &s[4 + argc]; /* NULL-terminated by split_strings */
	if (spec->cwd[0] == '\0' || spec->program[0] == '\0')
		goto malformed;
	return 0;
malformed:
	errno = EPROTO;
	return -1;
}
