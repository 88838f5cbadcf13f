/* A tiny static HTTP server for the test-host tests: the image is FROM scratch, so it must
 * carry its own server. Usage: tinyhttpd PORT BODY -- answers every request with 200 and
 * BODY, exits on SIGTERM (it runs as PID 1 in its container). */
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void stop(int sig) { (void)sig; _exit(0); }

int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: tinyhttpd PORT BODY\n"); return 2; }
    signal(SIGTERM, stop);
    signal(SIGINT, stop);
    int srv = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(srv, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[1]))};
    if (bind(srv, (struct sockaddr *)&addr, sizeof addr) || listen(srv, 16)) { perror("bind"); return 1; }
    char head[160], buf[1024];
    int hlen = snprintf(head, sizeof head,
                        "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n\r\n",
                        strlen(argv[2]));
    for (;;) {
        int c = accept(srv, NULL, NULL);
        if (c < 0) continue;
        if (read(c, buf, sizeof buf) >= 0) {
            if (write(c, head, hlen) < 0 || write(c, argv[2], strlen(argv[2])) < 0) perror("write");
        }
        close(c);
    }
}
