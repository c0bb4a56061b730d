#include "curl_shim.h"

CURLcode cah_curl_set_long(CURL *easy, CURLoption option, long value) {
    return curl_easy_setopt(easy, option, value);
}

CURLcode cah_curl_set_string(CURL *easy, CURLoption option, const char *value) {
    return curl_easy_setopt(easy, option, value);
}

CURLcode cah_curl_set_pointer(CURL *easy, CURLoption option, void *value) {
    return curl_easy_setopt(easy, option, value);
}

CURLcode cah_curl_set_headers(CURL *easy, struct curl_slist *headers) {
    return curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
}

CURLcode cah_curl_set_body(CURL *easy, const void *body, long length) {
    CURLcode rc = curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE, length);
    if (rc != CURLE_OK) return rc;
    return curl_easy_setopt(easy, CURLOPT_COPYPOSTFIELDS, body);
}

CURLcode cah_curl_set_write(CURL *easy, cah_curl_write_fn fn, void *userdata) {
    CURLcode rc = curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, fn);
    if (rc != CURLE_OK) return rc;
    return curl_easy_setopt(easy, CURLOPT_WRITEDATA, userdata);
}

CURLcode cah_curl_set_header_fn(CURL *easy, cah_curl_write_fn fn, void *userdata) {
    CURLcode rc = curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, fn);
    if (rc != CURLE_OK) return rc;
    return curl_easy_setopt(easy, CURLOPT_HEADERDATA, userdata);
}

long cah_curl_response_code(CURL *easy) {
    long code = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
    return code;
}

void *cah_curl_private(CURL *easy) {
    char *p = NULL;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, &p);
    return p;
}

int cah_curl_multi_next_done(CURLM *multi, CURL **easy, CURLcode *result) {
    int left = 0;
    CURLMsg *msg;
    while ((msg = curl_multi_info_read(multi, &left)) != NULL) {
        if (msg->msg == CURLMSG_DONE) {
            *easy = msg->easy_handle;
            *result = msg->data.result;
            return 1;
        }
    }
    return 0;
}

CURLMcode cah_curl_multi_set_callbacks(CURLM *multi, cah_curl_socket_fn socket_fn, cah_curl_timer_fn timer_fn,
                                       void *userp) {
    CURLMcode rc = curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, socket_fn);
    if (rc != CURLM_OK) return rc;
    rc = curl_multi_setopt(multi, CURLMOPT_SOCKETDATA, userp);
    if (rc != CURLM_OK) return rc;
    rc = curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, timer_fn);
    if (rc != CURLM_OK) return rc;
    return curl_multi_setopt(multi, CURLMOPT_TIMERDATA, userp);
}
