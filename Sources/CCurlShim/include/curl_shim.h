// Typed, non-variadic entry points into libcurl for Swift.
// curl_easy_setopt and curl_easy_getinfo are variadic and do not import;
// these wrappers each pass one argument of one known type.
#ifndef CAH_CURL_SHIM_H
#define CAH_CURL_SHIM_H

#include <stddef.h>
#include <curl/curl.h>

typedef size_t (*cah_curl_write_fn)(char *data, size_t size, size_t nmemb, void *userdata);

CURLcode cah_curl_set_long(CURL *easy, CURLoption option, long value);
CURLcode cah_curl_set_string(CURL *easy, CURLoption option, const char *value);
CURLcode cah_curl_set_pointer(CURL *easy, CURLoption option, void *value);
CURLcode cah_curl_set_headers(CURL *easy, struct curl_slist *headers);
CURLcode cah_curl_set_body(CURL *easy, const void *body, long length);  // copied by libcurl
CURLcode cah_curl_set_write(CURL *easy, cah_curl_write_fn fn, void *userdata);
/// CURLOPT_HEADERFUNCTION and CURLOPT_HEADERDATA: `fn` gets each response header line.
CURLcode cah_curl_set_header_fn(CURL *easy, cah_curl_write_fn fn, void *userdata);

long cah_curl_response_code(CURL *easy);
void *cah_curl_private(CURL *easy);

/// Reads the next finished transfer of a multi handle. Returns 1 and fills
/// easy/result when one is done, 0 when there is none.
int cah_curl_multi_next_done(CURLM *multi, CURL **easy, CURLcode *result);

/// CURLMOPT_SOCKETFUNCTION / CURLMOPT_TIMERFUNCTION (curl_multi_setopt is variadic): the
/// multi handle tells the caller which sockets to watch and when to call it back, so that
/// a ready socket costs the work of its own transfer, not a walk over every transfer.
typedef int (*cah_curl_socket_fn)(CURL *easy, curl_socket_t socket, int what, void *userp, void *socketp);
typedef int (*cah_curl_timer_fn)(CURLM *multi, long timeout_ms, void *userp);
CURLMcode cah_curl_multi_set_callbacks(CURLM *multi, cah_curl_socket_fn socket_fn, cah_curl_timer_fn timer_fn,
                                       void *userp);

#endif
