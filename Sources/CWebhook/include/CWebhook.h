// libcurl for webhook notifications, loaded at run time (see curl_loader.c) as libpq is: its
// declarations come from libcurl's header (Debian: libcurl4-openssl-dev), but nothing links
// against it, so a daemon without webhook channels, and jobctl, never load libcurl and the
// TLS libraries it needs.
#ifndef JOBCONTROL_CWEBHOOK_H
#define JOBCONTROL_CWEBHOOK_H

#include <stddef.h>

/// What a POST got back: the HTTP status (0 when no response came), the start of the
/// response body, and libcurl's message when the transfer failed.
struct jobcontrol_http_response {
    long status;
    char error[256];
    char body[1024];
    size_t body_length;
};

/// Loads libcurl.so.4 once (thread-safe) and initializes it. Returns NULL when it is loaded,
/// else why it is not.
const char *jobcontrol_curl_load(void);

/// POSTs `body` to `url` (http or https only, no redirects followed) with the given header
/// lines ("Name: value"), waiting at most `timeout_ms` for the whole exchange. `ca_file`: the
/// certificates (PEM) to verify the server with instead of the system's, or NULL. Blocks the
/// calling thread. Returns 0 when a response came (whatever its status), else libcurl's error
/// code with `response->error` set.
int jobcontrol_http_post(const char *url, const char *const *headers, int header_count, const char *body,
                         size_t body_length, long timeout_ms, const char *ca_file,
                         struct jobcontrol_http_response *response);

/// HMAC-SHA256 of `data` with `key` into `digest` (32 bytes), with OpenSSL's libcrypto.so.3
/// (loaded on first use, as libcurl is). Returns NULL on success, else why it failed.
const char *jobcontrol_hmac_sha256(const void *key, size_t key_length, const void *data, size_t data_length,
                                   unsigned char digest[32]);

#endif
