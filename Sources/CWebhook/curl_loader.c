// The few libcurl calls a webhook needs, through libcurl.so.4 opened with dlopen(3) on first use.
// curl_easy_setopt is variadic, which Swift cannot call: the whole POST is done here.
#include "CWebhook.h"

#include <curl/curl.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

// Written once under pthread_once, read-only afterwards.
static CURLcode (*real_global_init)(long flags);
static CURL *(*real_easy_init)(void);
static CURLcode (*real_easy_setopt)(CURL *handle, CURLoption option, ...);
static CURLcode (*real_easy_perform)(CURL *handle);
static CURLcode (*real_easy_getinfo)(CURL *handle, CURLINFO info, ...);
static void (*real_easy_cleanup)(CURL *handle);
static const char *(*real_easy_strerror)(CURLcode code);
static struct curl_slist *(*real_slist_append)(struct curl_slist *list, const char *string);
static void (*real_slist_free_all)(struct curl_slist *list);

static pthread_once_t once = PTHREAD_ONCE_INIT;
static char load_error[512];

#define RESOLVE(pointer, name) \
    *(void **)(&pointer) = dlsym(handle, name); \
    if (pointer == NULL) { \
        snprintf(load_error, sizeof load_error, "libcurl.so.4 has no %s", name); \
        return; \
    }

static void load(void) {
    void *handle = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
    if (handle == NULL) {
        snprintf(load_error, sizeof load_error, "%s (install libcurl4)", dlerror());
        return;
    }
    RESOLVE(real_global_init, "curl_global_init")
    RESOLVE(real_easy_init, "curl_easy_init")
    RESOLVE(real_easy_setopt, "curl_easy_setopt")
    RESOLVE(real_easy_perform, "curl_easy_perform")
    RESOLVE(real_easy_getinfo, "curl_easy_getinfo")
    RESOLVE(real_easy_cleanup, "curl_easy_cleanup")
    RESOLVE(real_easy_strerror, "curl_easy_strerror")
    RESOLVE(real_slist_append, "curl_slist_append")
    RESOLVE(real_slist_free_all, "curl_slist_free_all")
    // Not thread-safe before libcurl 7.84: done once, here, before any transfer.
    if (real_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(load_error, sizeof load_error, "curl_global_init failed");
    }
}

const char *jobcontrol_curl_load(void) {
    pthread_once(&once, load);
    return load_error[0] == '\0' ? NULL : load_error;
}

static size_t keep_start(char *data, size_t size, size_t count, void *context) {
    struct jobcontrol_http_response *response = context;
    size_t length = size * count;
    size_t room = sizeof response->body - response->body_length;
    size_t kept = length < room ? length : room;
    memcpy(response->body + response->body_length, data, kept);
    response->body_length += kept;
    return length;  // the rest is read and dropped
}

int jobcontrol_http_post(const char *url, const char *const *headers, int header_count, const char *body,
                         size_t body_length, long timeout_ms, const char *ca_file,
                         struct jobcontrol_http_response *response) {
    memset(response, 0, sizeof *response);
    const char *why = jobcontrol_curl_load();
    if (why != NULL) {
        snprintf(response->error, sizeof response->error, "%s", why);
        return CURLE_FAILED_INIT;
    }
    CURL *curl = real_easy_init();
    if (curl == NULL) {
        snprintf(response->error, sizeof response->error, "curl_easy_init failed");
        return CURLE_FAILED_INIT;
    }
    struct curl_slist *list = NULL;
    for (int index = 0; index < header_count; index++) {
        struct curl_slist *next = real_slist_append(list, headers[index]);
        if (next == NULL) {
            real_slist_free_all(list);
            real_easy_cleanup(curl);
            snprintf(response->error, sizeof response->error, "out of memory");
            return CURLE_OUT_OF_MEMORY;
        }
        list = next;
    }
    char error[CURL_ERROR_SIZE] = "";
    real_easy_setopt(curl, CURLOPT_ERRORBUFFER, error);
    real_easy_setopt(curl, CURLOPT_URL, url);
    real_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    real_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    real_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);  // no SIGALRM for name lookups: the daemon's threads
    real_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
    real_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    real_easy_setopt(curl, CURLOPT_POST, 1L);
    real_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    real_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_length);
    real_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
    if (ca_file != NULL) real_easy_setopt(curl, CURLOPT_CAINFO, ca_file);
    real_easy_setopt(curl, CURLOPT_WRITEFUNCTION, keep_start);
    real_easy_setopt(curl, CURLOPT_WRITEDATA, response);
    CURLcode code = real_easy_perform(curl);
    if (code == CURLE_OK) {
        real_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response->status);
    } else {
        snprintf(response->error, sizeof response->error, "%s", error[0] != '\0' ? error : real_easy_strerror(code));
    }
    real_slist_free_all(list);
    real_easy_cleanup(curl);
    return (int)code;
}
