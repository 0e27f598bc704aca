/*
 * hello.c - libaios in one page: connect to aiosd, make a call, read an
 * error, start a program and stream its output as it comes.
 *
 *   cc hello.c $(PKG_CONFIG_PATH=build pkg-config --cflags --libs aios) -o hello
 *   ./hello            (the socket: $AIOS_SOCKET or the default path)
 */
#include <stdio.h>

#include <aios/client.h>

/* Each $/stream notification of proc.logs: {"id", "seq", "stream", "data"}. */
static void on_output(void *arg, uint64_t call_id, json_t *chunk)
{
    (void)arg;
    (void)call_id;
    fputs(json_string_value(json_object_get(chunk, "data")), stdout);
}

int main(void)
{
    aios_client *c;
    aios_error err = {0};
    aios_client_opts opts = {.client_name = "hello", .err = &err};
    json_t *res, *params;
    long long id;

    if (aios_client_connect(NULL, &opts, &c) < 0) {
        fprintf(stderr, "hello: %s\n", err.message);
        return 3;
    }
    printf("connected as %s\n",
           json_string_value(json_object_get(json_object_get(aios_client_hello(c), "identity"), "principal")));

    /* a call that fails: the code, its name and the offending field */
    params = json_pack("{s:i}", "id", 424242);
    if (aios_call(c, "proc.info", params, 5000, &res, &err) < 0)
        printf("proc.info failed: %s (%s, field %s)\n", err.message, err.name, err.field);
    json_decref(params);

    /* start a program, then follow its output until it ends */
    params = json_pack("{s:[s,s,s]}", "argv", "sh", "-c", "echo one; sleep 0.2; echo two");
    if (aios_call(c, "proc.spawn", params, 5000, &res, &err) < 0) {
        fprintf(stderr, "hello: %s\n", err.message);
        return 1;
    }
    json_decref(params);
    id = (long long)json_integer_value(json_object_get(res, "id"));
    json_decref(res);
    params = json_pack("{s:I,s:b}", "id", (json_int_t)id, "follow", 1);
    if (aios_call_stream(c, "proc.logs", params, on_output, NULL, 10000, &res, &err) == 0)
        printf("process %lld ended with status %lld\n", id,
               (long long)json_integer_value(json_object_get(json_object_get(res, "exit"), "status")));
    json_decref(params);
    json_decref(res);
    aios_error_clear(&err);
    aios_client_close(c);
    return 0;
}
