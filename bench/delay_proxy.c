/* delay_proxy: a TCP proxy on loopback that adds a fixed delay to every byte in both directions,
 * for measuring a station that is far from its bridge (or its probe) when the kernel has no
 * netem. Each direction of each connection delivers what it read half the round-trip time later,
 * in order; bandwidth is not limited. A connection's opening (the TCP handshake with the proxy)
 * is not delayed: a real WAN costs one round trip more per new connection.
 *
 *   delay_proxy --target HOST:PORT --rtt-ms MS [--port P] [--turns FILE]
 *
 * Listens on 127.0.0.1:P (0 or none: any free port) and prints
 * "delay_proxy: listening on 127.0.0.1:PORT" on stdout once it accepts. Runs until killed.
 *
 * --turns FILE: when a connection ends, appends "conn N turns T c2s BYTES s2c BYTES" to FILE.
 * A turn is a run of client bytes: the first, and every one the client sends after the proxy
 * delivered server bytes to it. Every time the client waits for an answer and then sends again
 * is a turn, so T bounds the client's round trips from above (a client that computes for longer
 * than the delay between two requests it does not wait for shows one turn more). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CHUNK 16384

struct chunk {
    struct chunk *next;
    struct timespec due;
    size_t len; /* 0: end of stream */
    uint8_t data[];
};

/* One direction: a reader queues what it reads with its due time, a writer delivers it then. */
struct pipe_dir {
    int from, to;
    long delay_ns;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct chunk *head, *tail;
    struct conn *conn;
};

struct conn {
    struct pipe_dir dir[2];
    int fds[2];
    pthread_mutex_t mu;
    int alive; /* threads still running (4) */
    unsigned id;
    unsigned turns;  /* runs of client bytes (see --turns) */
    int answered;    /* server bytes delivered (or being delivered) since the client last sent */
    size_t bytes[2]; /* c2s, s2c */
};

static const char *turns_file;

static void add_ns(struct timespec *t, long ns)
{
    t->tv_nsec += ns;
    while (t->tv_nsec >= 1000000000L) {
        t->tv_nsec -= 1000000000L;
        t->tv_sec++;
    }
}

static void conn_release(struct conn *c)
{
    pthread_mutex_lock(&c->mu);
    int left = --c->alive;
    pthread_mutex_unlock(&c->mu);
    if (left)
        return;
    if (turns_file) {
        FILE *f = fopen(turns_file, "a");
        if (f) {
            fprintf(f, "conn %u turns %u c2s %zu s2c %zu\n", c->id, c->turns, c->bytes[0],
                    c->bytes[1]);
            fclose(f);
        }
    }
    close(c->fds[0]);
    close(c->fds[1]);
    for (int d = 0; d < 2; d++) {
        pthread_mutex_destroy(&c->dir[d].mu);
        pthread_cond_destroy(&c->dir[d].cv);
    }
    pthread_mutex_destroy(&c->mu);
    free(c);
}

static void push(struct pipe_dir *p, const uint8_t *data, size_t len)
{
    struct chunk *k = malloc(sizeof *k + len);
    if (!k)
        abort();
    clock_gettime(CLOCK_MONOTONIC, &k->due);
    add_ns(&k->due, p->delay_ns);
    k->len = len;
    k->next = NULL;
    if (len)
        memcpy(k->data, data, len);
    pthread_mutex_lock(&p->mu);
    if (p->tail)
        p->tail->next = k;
    else
        p->head = k;
    p->tail = k;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

static void *reader(void *arg)
{
    struct pipe_dir *p = arg;
    uint8_t buf[CHUNK];
    for (;;) {
        ssize_t n = read(p->from, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            push(p, NULL, 0);
            break;
        }
        if (p == &p->conn->dir[0]) { /* client to server: a new turn after an answer */
            pthread_mutex_lock(&p->conn->mu);
            if (p->conn->answered || !p->conn->turns)
                p->conn->turns++;
            p->conn->answered = 0;
            p->conn->bytes[0] += (size_t)n;
            pthread_mutex_unlock(&p->conn->mu);
        }
        push(p, buf, (size_t)n);
    }
    conn_release(p->conn);
    return NULL;
}

static void *writer(void *arg)
{
    struct pipe_dir *p = arg;
    int open_ = 1;
    for (;;) {
        pthread_mutex_lock(&p->mu);
        while (!p->head)
            pthread_cond_wait(&p->cv, &p->mu);
        struct chunk *k = p->head;
        p->head = k->next;
        if (!p->head)
            p->tail = NULL;
        pthread_mutex_unlock(&p->mu);
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &k->due, NULL) == EINTR)
            ;
        size_t len = k->len, off = 0;
        if (!len) {
            free(k);
            shutdown(p->to, SHUT_WR);
            break;
        }
        if (p == &p->conn->dir[1] && open_) {
            /* server bytes reach the client now: marked before they are written, so a request
             * the client sends in answer cannot be read (by the other thread) ahead of the mark */
            pthread_mutex_lock(&p->conn->mu);
            p->conn->answered = 1;
            pthread_mutex_unlock(&p->conn->mu);
        }
        while (open_ && off < len) {
            ssize_t n = write(p->to, k->data + off, len - off);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                open_ = 0; /* the other side is gone: drain the queue until the end */
                shutdown(p->from, SHUT_RD);
                break;
            }
            off += (size_t)n;
        }
        if (p == &p->conn->dir[1]) {
            pthread_mutex_lock(&p->conn->mu);
            p->conn->bytes[1] += off;
            pthread_mutex_unlock(&p->conn->mu);
        }
        free(k);
    }
    conn_release(p->conn);
    return NULL;
}

static int connect_to(const struct sockaddr_in *a)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (const struct sockaddr *)a, sizeof *a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

int main(int argc, char **argv)
{
    const char *target = NULL;
    long rtt_ms = -1;
    int port = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--target") == 0)
            target = argv[i + 1];
        else if (strcmp(argv[i], "--rtt-ms") == 0)
            rtt_ms = strtol(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--port") == 0)
            port = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--turns") == 0)
            turns_file = argv[i + 1];
    }
    const char *colon = target ? strrchr(target, ':') : NULL;
    if (!colon || rtt_ms < 0) {
        fprintf(stderr, "usage: delay_proxy --target HOST:PORT --rtt-ms MS [--port P] "
                        "[--turns FILE]\n");
        return 2;
    }
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1))};
    char host[64];
    snprintf(host, sizeof host, "%.*s", (int)(colon - target), target);
    if (inet_pton(AF_INET, host, &to.sin_addr) != 1) {
        fprintf(stderr, "delay_proxy: %s is not an IPv4 address\n", host);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    int ls = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in me = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    me.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof me;
    if (bind(ls, (struct sockaddr *)&me, sizeof me) != 0 || listen(ls, 128) != 0 ||
        getsockname(ls, (struct sockaddr *)&me, &sl) != 0) {
        perror("delay_proxy: listen");
        return 1;
    }
    printf("delay_proxy: listening on 127.0.0.1:%d (target %s, rtt %ld ms)\n", ntohs(me.sin_port),
           target, rtt_ms);
    fflush(stdout);
    for (;;) {
        int a = accept(ls, NULL, NULL);
        if (a < 0) {
            if (errno == EINTR)
                continue;
            perror("delay_proxy: accept");
            return 1;
        }
        int b = connect_to(&to);
        if (b < 0) {
            close(a);
            continue;
        }
        setsockopt(a, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        setsockopt(b, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct conn *c = calloc(1, sizeof *c);
        if (!c)
            abort();
        c->fds[0] = a;
        c->fds[1] = b;
        c->alive = 4;
        static unsigned next_id;
        c->id = ++next_id;
        pthread_mutex_init(&c->mu, NULL);
        for (int d = 0; d < 2; d++) {
            struct pipe_dir *p = &c->dir[d];
            p->from = d ? b : a;
            p->to = d ? a : b;
            p->delay_ns = rtt_ms * 1000000L / 2;
            p->conn = c;
            pthread_mutex_init(&p->mu, NULL);
            pthread_cond_init(&p->cv, NULL);
        }
        pthread_attr_t at;
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        pthread_attr_setstacksize(&at, 256 * 1024);
        for (int d = 0; d < 2; d++) {
            pthread_t t;
            pthread_create(&t, &at, reader, &c->dir[d]);
            pthread_create(&t, &at, writer, &c->dir[d]);
        }
        pthread_attr_destroy(&at);
    }
}
