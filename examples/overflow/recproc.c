/*
 * recproc: a tiny record processor with a deliberate stack buffer overflow.
 *
 * It reads commands, one per line, from the file named on the command line (or stdin)
 * and carries each out. The "name HEX" command decodes a hex string into a 32-byte
 * buffer inside a struct that also holds a function pointer, and never checks the
 * length: more than 32 bytes overwrite the pointer, which is called right after.
 * With -no-pie the address of every function is fixed, so an input can point it at
 * run_diagnostics(), a function present in the binary that no legitimate input
 * reaches, and which spawns "/bin/sh -c id" (harmless: it prints the user id).
 *
 * FOR TESTING INTRUSION DETECTION ONLY. Never install this program anywhere.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

struct greeting {
    char name[32];
    void (*greet)(const char *name);
};

static void greet_plain(const char *name) { printf("hello %s\n", name); }

/* Reached only by a corrupted function pointer. */
void run_diagnostics(const char *unused) {
    (void)unused;
    char *argv[] = {"sh", "-c", "id", NULL};
    fflush(stdout);
    execve("/bin/sh", argv, environ);
    _exit(127);
}

static int hexval(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    c = tolower(c);
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* The bug: no bound on the number of decoded bytes. */
static void cmd_name(const char *hex) {
    struct greeting g;
    g.greet = greet_plain;
    size_t n = 0;
    for (const char *p = hex; p[0] && p[1]; p += 2) {
        int hi = hexval((unsigned char)p[0]), lo = hexval((unsigned char)p[1]);
        if (hi < 0 || lo < 0) break;
        ((unsigned char *)g.name)[n++] = (unsigned char)(hi * 16 + lo);
    }
    if (n < sizeof g.name) g.name[n] = '\0';
    else g.name[sizeof g.name - 1] = '\0';
    g.greet(g.name);
}

static void cmd_upper(const char *text) {
    for (const char *p = text; *p; p++) putchar(toupper((unsigned char)*p));
    putchar('\n');
}

static void cmd_count(const char *path) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) { printf("count %s: %s\n", path, strerror(errno)); return; }
    char buf[4096];
    long bytes = 0, lines = 0;
    ssize_t r;
    while ((r = read(fd, buf, sizeof buf)) > 0) {
        bytes += r;
        for (ssize_t i = 0; i < r; i++) lines += buf[i] == '\n';
    }
    close(fd);
    printf("%s: %ld lines %ld bytes\n", path, lines, bytes);
}

static void cmd_stat(const char *path) {
    struct stat st;
    if (stat(path, &st) < 0) { printf("stat %s: %s\n", path, strerror(errno)); return; }
    printf("%s: size %lld mode %o\n", path, (long long)st.st_size, st.st_mode & 07777);
}

static void cmd_list(const char *path) {
    DIR *d = opendir(path);
    if (!d) { printf("list %s: %s\n", path, strerror(errno)); return; }
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) n++;
    closedir(d);
    printf("%s: %d entries\n", path, n);
}

static void cmd_save(const char *rest) {
    char path[64];
    const char *sp = strchr(rest, ' ');
    size_t len = sp ? (size_t)(sp - rest) : strlen(rest);
    if (len == 0 || len >= sizeof path) { printf("save: bad file name\n"); return; }
    memcpy(path, rest, len);
    path[len] = '\0';
    FILE *f = fopen(path, "w");
    if (!f) { printf("save %s: %s\n", path, strerror(errno)); return; }
    fprintf(f, "%s\n", sp ? sp + 1 : "");
    fclose(f);
    printf("saved %s\n", path);
}

static void cmd_sum(const char *rest) {
    long total = 0;
    char *end;
    const char *p = rest;
    for (;;) {
        long v = strtol(p, &end, 10);
        if (end == p) break;
        total += v;
        p = end;
    }
    printf("sum %ld\n", total);
}

static void cmd_sleep(const char *rest) {
    long ms = atol(rest);
    if (ms < 0 || ms > 100) ms = 1;
    struct timespec ts = {0, ms * 1000000L};
    nanosleep(&ts, NULL);
    printf("slept %ld ms\n", ms);
}

static void cmd_env(const char *rest) {
    const char *v = getenv(rest);
    printf("%s=%s\n", rest, v ? v : "");
}

static void cmd_time(void) {
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    printf("year %d\n", tm.tm_year + 1900);
}

int main(int argc, char **argv) {
    FILE *in = stdin;
    if (argc > 1 && !(in = fopen(argv[1], "r"))) {
        fprintf(stderr, "recproc: cannot open %s: %s\n", argv[1], strerror(errno));
        return 2;
    }
    char line[1024];
    int n = 0;
    while (fgets(line, sizeof line, in)) {
        line[strcspn(line, "\n")] = '\0';
        char *arg = strchr(line, ' ');
        if (arg) *arg++ = '\0'; else arg = line + strlen(line);
        if (!strcmp(line, "name")) cmd_name(arg);
        else if (!strcmp(line, "upper")) cmd_upper(arg);
        else if (!strcmp(line, "count")) cmd_count(arg);
        else if (!strcmp(line, "stat")) cmd_stat(arg);
        else if (!strcmp(line, "list")) cmd_list(arg);
        else if (!strcmp(line, "save")) cmd_save(arg);
        else if (!strcmp(line, "sum")) cmd_sum(arg);
        else if (!strcmp(line, "sleep")) cmd_sleep(arg);
        else if (!strcmp(line, "env")) cmd_env(arg);
        else if (!strcmp(line, "time")) cmd_time();
        else if (line[0] == '#' || line[0] == '\0') continue;
        else printf("unknown command %s\n", line);
        fflush(stdout);
        n++;
    }
    if (in != stdin) fclose(in);
    printf("%d commands\n", n);
    return 0;
}
