/*
 * A storage fault injector for the durability tests, loaded into a
 * `harambee serve` process with LD_PRELOAD. It stands between the process
 * and the C library: writes and fsyncs of files under FAULT_DIR fail as
 * the file FAULT_CONTROL says, at the moment it says it:
 *
 *   ok         every call goes through
 *   enospc     write/pwrite/writev fail with ENOSPC (a full disk)
 *   eio-fsync  fsync/fdatasync fail with EIO (a disk that lost writes)
 *
 * Nothing of the switch is changed: SQLite, the kernel interface and the
 * switch's error handling are the real ones.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

enum { MODE_OK, MODE_ENOSPC, MODE_EIO_FSYNC };

static int mode(void) {
    const char *control = getenv("FAULT_CONTROL");
    if (control == NULL) return MODE_OK;
    int fd = open(control, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return MODE_OK;
    char text[16] = {0};
    ssize_t n = read(fd, text, sizeof text - 1);
    close(fd);
    if (n <= 0) return MODE_OK;
    if (strncmp(text, "enospc", 6) == 0) return MODE_ENOSPC;
    if (strncmp(text, "eio-fsync", 9) == 0) return MODE_EIO_FSYNC;
    return MODE_OK;
}

static int under_fault_dir(int fd) {
    const char *dir = getenv("FAULT_DIR");
    if (dir == NULL || *dir == 0) return 0;
    char link[64];
    char path[4096];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    if (n <= 0) return 0;
    path[n] = 0;
    return strncmp(path, dir, strlen(dir)) == 0;
}

static int fails(int fd, int which) {
    return under_fault_dir(fd) && mode() == which;
}

#define REAL(ret, name, ...)                                   \
    static ret (*real)(__VA_ARGS__);                           \
    if (real == NULL) real = (ret (*)(__VA_ARGS__))dlsym(RTLD_NEXT, name)

ssize_t write(int fd, const void *buf, size_t count) {
    REAL(ssize_t, "write", int, const void *, size_t);
    if (fails(fd, MODE_ENOSPC)) { errno = ENOSPC; return -1; }
    return real(fd, buf, count);
}

ssize_t pwrite(int fd, const void *buf, size_t count, off_t offset) {
    REAL(ssize_t, "pwrite", int, const void *, size_t, off_t);
    if (fails(fd, MODE_ENOSPC)) { errno = ENOSPC; return -1; }
    return real(fd, buf, count, offset);
}

ssize_t pwrite64(int fd, const void *buf, size_t count, off_t offset) {
    REAL(ssize_t, "pwrite64", int, const void *, size_t, off_t);
    if (fails(fd, MODE_ENOSPC)) { errno = ENOSPC; return -1; }
    return real(fd, buf, count, offset);
}

ssize_t writev(int fd, const struct iovec *iov, int iovcnt) {
    REAL(ssize_t, "writev", int, const struct iovec *, int);
    if (fails(fd, MODE_ENOSPC)) { errno = ENOSPC; return -1; }
    return real(fd, iov, iovcnt);
}

ssize_t pwritev(int fd, const struct iovec *iov, int iovcnt, off_t offset) {
    REAL(ssize_t, "pwritev", int, const struct iovec *, int, off_t);
    if (fails(fd, MODE_ENOSPC)) { errno = ENOSPC; return -1; }
    return real(fd, iov, iovcnt, offset);
}

int fsync(int fd) {
    REAL(int, "fsync", int);
    if (fails(fd, MODE_EIO_FSYNC)) { errno = EIO; return -1; }
    return real(fd);
}

int fdatasync(int fd) {
    REAL(int, "fdatasync", int);
    if (fails(fd, MODE_EIO_FSYNC)) { errno = EIO; return -1; }
    return real(fd);
}
