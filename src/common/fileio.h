/* Whole-file reads with a size limit, and crash-safe atomic writes. */
#ifndef ROUNDHOUSE_FILEIO_H
#define ROUNDHOUSE_FILEIO_H

#include <stddef.h>
#include <sys/types.h>

/* Writes data to path so that a crash at any moment leaves either the old or the new content:
 * temp file in the same directory -> write -> fsync -> rename -> fsync of the directory.
 * 0 or negative errno. */
int fileio_write_atomic(const char *path, const void *data, size_t len, mode_t mode);

/* Reads the whole file into a malloc'd NUL-terminated buffer. Fails with -EFBIG when the file
 * is larger than max bytes, -ENOENT when missing. 0 or negative errno; *out untouched on
 * failure. */
int fileio_read_all(const char *path, size_t max, char **out, size_t *len);

/* mkdir -p with the given mode for created directories. 0 or negative errno. */
int fileio_mkdirs(const char *path, mode_t mode);

#endif
