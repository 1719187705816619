// HMAC-SHA256 for signing webhook bodies, with OpenSSL's libcrypto.so.3 opened on first use:
// a well-kept implementation at no build cost, loaded only by daemons that sign webhooks.
#include "CWebhook.h"

#include <dlfcn.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdio.h>

// Written once under pthread_once, read-only afterwards.
static const EVP_MD *(*real_sha256)(void);
static unsigned char *(*real_hmac)(const EVP_MD *md, const void *key, int key_length, const unsigned char *data,
                                   size_t data_length, unsigned char *digest, unsigned int *digest_length);
static pthread_once_t once = PTHREAD_ONCE_INIT;
static char load_error[512];

static void load(void) {
    void *handle = dlopen("libcrypto.so.3", RTLD_NOW | RTLD_LOCAL);
    if (handle == NULL) {
        snprintf(load_error, sizeof load_error, "%s (install libssl3)", dlerror());
        return;
    }
    *(void **)(&real_sha256) = dlsym(handle, "EVP_sha256");
    *(void **)(&real_hmac) = dlsym(handle, "HMAC");
    if (real_sha256 == NULL || real_hmac == NULL) {
        snprintf(load_error, sizeof load_error, "libcrypto.so.3 has no EVP_sha256 or HMAC");
    }
}

const char *jobcontrol_hmac_sha256(const void *key, size_t key_length, const void *data, size_t data_length,
                                   unsigned char digest[32]) {
    pthread_once(&once, load);
    if (load_error[0] != '\0') return load_error;
    if (key_length > 0x7fffffff) return "the key is too long";
    unsigned int length = 0;
    if (real_hmac(real_sha256(), key, (int)key_length, data, data_length, digest, &length) == NULL || length != 32) {
        return "HMAC failed";
    }
    return NULL;
}
