/*  A main for the fuzz harnesses without libFuzzer: runs every file named on
 *  the command line, or found (one level deep) in a directory named there,
 *  through LLVMFuzzerTestOneInput. The ctest fuzz/replay_<harness> feeds it
 *  the seed corpus and the regression inputs, so gcc and ASan builds guard
 *  every input a fuzzer ever found.
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		perror(path);
		return -1;
	}
	size_t cap = 4096, len = 0;
	uint8_t *buf = malloc(cap);
	size_t n;
	while (buf != NULL && (n = fread(buf + len, 1, cap - len, f)) > 0) {
		len += n;
		if (len == cap) {
			uint8_t *nb = realloc(buf, cap *= 2);
			if (nb == NULL)
				free(buf);
			buf = nb;
		}
	}
	fclose(f);
	if (buf == NULL)
		return -1;
	/* An exact-size copy, so ASan sees reads past the input's end. */
	uint8_t *exact = malloc(len > 0 ? len : 1);
	memcpy(exact, buf, len);
	free(buf);
	fprintf(stderr, "%s (%zu octets)\n", path, len);
	LLVMFuzzerTestOneInput(exact, len);
	free(exact);
	return 0;
}

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int run_dir(const char *dir, size_t *count)
{
	DIR *d = opendir(dir);
	if (d == NULL)
		return 0; /* no regressions yet */
	char **names = NULL;
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		char **nn = realloc(names, (n + 1) * sizeof(*names));
		if (nn == NULL)
			break;
		names = nn;
		names[n] = malloc(strlen(dir) + strlen(e->d_name) + 2);
		sprintf(names[n], "%s/%s", dir, e->d_name);
		n++;
	}
	closedir(d);
	if (n > 1)
		qsort(names, n, sizeof(*names), cmp);
	int ret = 0;
	for (size_t i = 0; i < n; i++) {
		struct stat st;
		if (stat(names[i], &st) == 0 && S_ISREG(st.st_mode)) {
			if (run_file(names[i]) != 0)
				ret = -1;
			(*count)++;
		}
		free(names[i]);
	}
	free(names);
	return ret;
}

int main(int argc, char **argv)
{
	LLVMFuzzerInitialize(&argc, &argv);
	size_t count = 0;
	int ret = 0;
	for (int i = 1; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode)) {
			ret |= run_dir(argv[i], &count);
		} else if (stat(argv[i], &st) == 0) {
			ret |= run_file(argv[i]);
			count++;
		}
	}
	fprintf(stderr, "%zu inputs replayed\n", count);
	if (count == 0) {
		/* A renamed or misspelt corpus path would otherwise pass having
		 * tested nothing. */
		fprintf(stderr, "nothing to replay: check the paths given\n");
		return 1;
	}
	return ret == 0 ? 0 : 1;
}
