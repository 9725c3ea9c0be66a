/* Reference load generator: N connections of fixed-size ping-pong over loopback, on epoll.
 *
 * Independent of iodetect: the bench's figures are checked against this. Every buffer is
 * allocated before the first request; the measured path is epoll_wait, recv, memcmp and send.
 * It counts the requests completed in a fixed window and reads the server's CPU time
 * (utime + stime from /proc/PID/stat, every thread) at both ends of that same window.
 *
 *   loadgen PORT CONNS IDLE SIZE WARMUP SECONDS SERVER_PID
 *
 * Prints one line: requests seconds server_ticks load_cpu_seconds ticks_per_second
 * Exit 1 with a message on stderr on any failure (a wrong echo, a closed or stalled server).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define STALL_MS 3000

static void die(const char *what) {
    fprintf(stderr, "loadgen: %s: %s\n", what, errno ? strerror(errno) : "failed");
    exit(1);
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double own_cpu(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

/* utime + stime of a process in clock ticks: fields 14 and 15 of /proc/PID/stat. */
static long long server_ticks(int pid) {
    char path[64], buf[2048];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) die("cannot read the server's /proc/PID/stat");
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    if (!p) die("malformed /proc/PID/stat");
    long long ut = 0, st = 0;
    /* after ")": state(3) ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lld %lld", &ut, &st) != 2)
        die("malformed /proc/PID/stat");
    return ut + st;
}

static int dial(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) die("socket");
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) die("connect");
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct timeval tv = {STALL_MS / 1000, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

/* One blocking round trip: the throwaway connection and the idle ones are proven this way. */
static void echo_blocking(int fd, const char *msg, int size, char *in) {
    if (send(fd, msg, size, 0) != size) die("send");
    int got = 0;
    while (got < size) {
        ssize_t r = recv(fd, in + got, size - got, 0);
        if (r <= 0) die("no echo");
        got += r;
    }
    if (memcmp(in, msg, size)) die("echo mismatch");
}

int main(int argc, char **argv) {
    if (argc != 8) {
        fprintf(stderr, "usage: loadgen PORT CONNS IDLE SIZE WARMUP SECONDS SERVER_PID\n");
        return 2;
    }
    int port = atoi(argv[1]), conns = atoi(argv[2]), idle = atoi(argv[3]), size = atoi(argv[4]);
    double warmup = atof(argv[5]), seconds = atof(argv[6]);
    int pid = atoi(argv[7]);
    if (conns < 1 || size < 1 || size > 65536 || idle < 0) return 2;

    char *msg = malloc(size);
    char *in = malloc((size_t)size * conns);
    int *got = calloc(conns, sizeof(int));
    int *fds = malloc(sizeof(int) * conns);
    int *idles = malloc(sizeof(int) * (idle + 1));
    struct epoll_event *events = malloc(sizeof(struct epoll_event) * conns);
    if (!msg || !in || !got || !fds || !idles || !events) die("malloc");
    for (int i = 0; i < size; i++) msg[i] = (char)('a' + i % 26);

    /* A fresh server is slower until its first connection closes: one throwaway first. */
    int first = dial(port);
    echo_blocking(first, msg, size, in);
    close(first);
    usleep(20000);
    for (int i = 0; i < idle; i++) {
        idles[i] = dial(port);
        echo_blocking(idles[i], "i", 1, in);
    }

    int ep = epoll_create1(0);
    if (ep < 0) die("epoll_create1");
    for (int i = 0; i < conns; i++) {
        fds[i] = dial(port);
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (unsigned)i};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev) < 0) die("epoll_ctl");
    }
    for (int i = 0; i < conns; i++)
        if (send(fds[i], msg, size, MSG_DONTWAIT) != size) die("send");

    double start = now(), t0 = start + warmup, t1 = t0 + seconds;
    long long count = 0, counted_from = -1, ticks0 = 0, ticks1 = 0;
    double cpu0 = 0, cpu1 = 0, began = 0, ended = 0;
    for (;;) {
        int n = epoll_wait(ep, events, conns, STALL_MS);
        if (n < 0) {
            if (errno == EINTR) continue;
            die("epoll_wait");
        }
        if (n == 0) {
            errno = 0;
            die("server stopped answering");
        }
        for (int k = 0; k < n; k++) {
            int i = (int)events[k].data.u32;
            char *buf = in + (size_t)i * size;
            ssize_t r = recv(fds[i], buf + got[i], size - got[i], MSG_DONTWAIT);
            if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
            if (r <= 0) {
                errno = 0;
                die("server closed a connection");
            }
            got[i] += r;
            if (got[i] < size) continue;
            if (memcmp(buf, msg, size)) {
                errno = 0;
                die("echo mismatch");
            }
            got[i] = 0;
            count++;
            if (send(fds[i], msg, size, MSG_DONTWAIT) != size) die("send");
        }
        double t = now();
        if (counted_from < 0 && t >= t0) {
            counted_from = count;
            ticks0 = server_ticks(pid);
            cpu0 = own_cpu();
            began = t;
        } else if (counted_from >= 0 && t >= t1) {
            ticks1 = server_ticks(pid);
            cpu1 = own_cpu();
            ended = t;
            break;
        }
    }
    printf("%lld %.6f %lld %.6f %ld\n", count - counted_from, ended - began, ticks1 - ticks0,
           cpu1 - cpu0, sysconf(_SC_CLK_TCK));
    return 0;
}
