/* Sequential write-notify with C libca: the reference rate for the
 * write_notify benchmark.  ca_array_put_callback of one DOUBLE, wait for its
 * completion (preemptive callback + an event, as a C client would), repeat.
 *
 * usage: put_callback_loop <PV name> <writes> [<warm-up writes>]
 * prints: writes/s, then the process's CPU microseconds per write
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <cadef.h>
#include <epicsEvent.h>

static epicsEventId completed;
static int failures;

static void on_put(struct event_handler_args args)
{
    if (args.status != ECA_NORMAL)
        failures++;
    epicsEventMustTrigger(completed);
}

static int put_and_wait(chid channel, double value)
{
    int status = ca_array_put_callback(DBR_DOUBLE, 1, channel, &value,
                                       on_put, NULL);
    if (status != ECA_NORMAL)
        return status;
    ca_flush_io();
    if (epicsEventWaitWithTimeout(completed, 10.0) != epicsEventWaitOK)
        return ECA_TIMEOUT;
    return ECA_NORMAL;
}

int main(int argc, char **argv)
{
    chid channel;
    int writes, warmup, i, status;
    struct timespec start, stop, cpu_start, cpu_stop;
    double elapsed, cpu;

    if (argc < 3) {
        fprintf(stderr, "usage: %s <PV name> <writes> [<warm-up>]\n", argv[0]);
        return 2;
    }
    writes = atoi(argv[2]);
    warmup = argc > 3 ? atoi(argv[3]) : 200;
    completed = epicsEventMustCreate(epicsEventEmpty);
    SEVCHK(ca_context_create(ca_enable_preemptive_callback), "context");
    SEVCHK(ca_create_channel(argv[1], NULL, NULL, CA_PRIORITY_DEFAULT,
                             &channel), "create channel");
    status = ca_pend_io(10.0);
    if (status != ECA_NORMAL) {
        fprintf(stderr, "%s did not connect\n", argv[1]);
        return 1;
    }
    for (i = 0; i < warmup; i++)
        if (put_and_wait(channel, i) != ECA_NORMAL)
            return 1;
    clock_gettime(CLOCK_MONOTONIC, &start);
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu_start);
    for (i = 0; i < writes; i++) {
        status = put_and_wait(channel, i);
        if (status != ECA_NORMAL) {
            fprintf(stderr, "put %d failed: %s\n", i, ca_message(status));
            return 1;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &stop);
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu_stop);
    elapsed = (stop.tv_sec - start.tv_sec) + (stop.tv_nsec - start.tv_nsec) / 1e9;
    cpu = (cpu_stop.tv_sec - cpu_start.tv_sec)
        + (cpu_stop.tv_nsec - cpu_start.tv_nsec) / 1e9;
    printf("%.1f %.2f\n", writes / elapsed, cpu / writes * 1e6);
    ca_clear_channel(channel);
    ca_context_destroy();
    return failures ? 1 : 0;
}
