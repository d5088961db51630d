/* The ceiling of the architecture for `make bench`: a FastCGI responder that does no work.
 * It answers every request the way an allowing access check does (X-Accel-Redirect to @litellm
 * with the same headers), with libfcgi and as many threads as the gateway worker uses. */
#include <fcgiapp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static int listener;

static void *serve(void *unused) {
    (void)unused;
    FCGX_Request request;
    FCGX_InitRequest(&request, listener, 0);
    while (FCGX_Accept_r(&request) >= 0) {
        FCGX_PutS("Status: 200 OK\r\nX-Accel-Redirect: @litellm\r\nX-Gateway-Email: bench@example.com\r\n"
                  "X-Gateway-Authorization: Bearer sk-bench\r\n"
                  "X-Gateway-Spend-Metadata: {\"user_email\":\"bench@example.com\",\"token_name\":\"bench\",\"auth_method\":\"jwt\"}\r\n"
                  "X-Gateway-Path: /n/chat/completions\r\n"
                  "\r\n", request.out);
        FCGX_Finish_r(&request);
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s SOCKET THREADS\n", argv[0]);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    FCGX_Init();
    unlink(argv[1]);
    listener = FCGX_OpenSocket(argv[1], 1024);
    if (listener < 0) return 1;
    chmod(argv[1], 0666);
    int threads = atoi(argv[2]);
    pthread_t ids[1024];
    for (int i = 0; i < threads && i < 1024; i++) pthread_create(&ids[i], NULL, serve, NULL);
    for (int i = 0; i < threads && i < 1024; i++) pthread_join(ids[i], NULL);
    return 0;
}
