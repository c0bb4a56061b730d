#include "amqp_shim.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <amqp_framing.h>
#include <amqp_tcp_socket.h>
#include <amqp_ssl_socket.h>

static void set_status(cah_amqp_status *st, int kind, int code, const char *msg) {
    if (!st) return;
    st->kind = kind;
    st->code = code;
    snprintf(st->message, sizeof st->message, "%s", msg ? msg : "");
}

static void set_ok(cah_amqp_status *st) { set_status(st, CAH_AMQP_OK, 0, ""); }

static void set_library_error(cah_amqp_status *st, int err, const char *what) {
    if (!st) return;
    st->kind = CAH_AMQP_LIBRARY_ERROR;
    st->code = err;
    snprintf(st->message, sizeof st->message, "%s: %s", what, amqp_error_string2(err));
}

static void copy_bytes(char *dst, size_t cap, amqp_bytes_t src) {
    size_t n = src.len < cap - 1 ? src.len : cap - 1;
    if (n > 0 && src.bytes) memcpy(dst, src.bytes, n);
    dst[n] = '\0';
}

/// Turns an RPC reply into a status; returns 0 when the reply is normal.
static int check_reply(amqp_rpc_reply_t r, const char *what, cah_amqp_status *st) {
    char text[400];
    switch (r.reply_type) {
    case AMQP_RESPONSE_NORMAL:
        set_ok(st);
        return 0;
    case AMQP_RESPONSE_NONE:
        set_status(st, CAH_AMQP_LIBRARY_ERROR, 0, what);
        return -1;
    case AMQP_RESPONSE_LIBRARY_EXCEPTION:
        set_library_error(st, r.library_error, what);
        return -1;
    case AMQP_RESPONSE_SERVER_EXCEPTION:
        if (r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
            amqp_connection_close_t *m = (amqp_connection_close_t *)r.reply.decoded;
            copy_bytes(text, sizeof text, m->reply_text);
            if (st) {
                st->kind = CAH_AMQP_CONNECTION_CLOSED;
                st->code = m->reply_code;
                snprintf(st->message, sizeof st->message, "%s: connection closed by broker: %d %s",
                         what, m->reply_code, text);
            }
        } else if (r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
            amqp_channel_close_t *m = (amqp_channel_close_t *)r.reply.decoded;
            copy_bytes(text, sizeof text, m->reply_text);
            if (st) {
                st->kind = CAH_AMQP_CHANNEL_CLOSED;
                st->code = m->reply_code;
                snprintf(st->message, sizeof st->message, "%s: channel closed by broker: %d %s",
                         what, m->reply_code, text);
            }
        } else {
            char buf[64];
            snprintf(buf, sizeof buf, "unexpected server method 0x%08X", r.reply.id);
            set_status(st, CAH_AMQP_CONNECTION_CLOSED, 0, buf);
        }
        return -1;
    }
    set_status(st, CAH_AMQP_LIBRARY_ERROR, 0, what);
    return -1;
}

amqp_connection_state_t cah_amqp_open(const char *host, int port, int connect_timeout_ms,
                                      const char *vhost, const char *user, const char *password,
                                      int heartbeat_seconds, const cah_amqp_tls *tls,
                                      cah_amqp_status *st) {
    amqp_connection_state_t conn = amqp_new_connection();
    if (!conn) {
        set_status(st, CAH_AMQP_LIBRARY_ERROR, 0, "out of memory");
        return NULL;
    }
    amqp_socket_t *sock = tls ? amqp_ssl_socket_new(conn) : amqp_tcp_socket_new(conn);
    if (!sock) {
        amqp_destroy_connection(conn);
        set_status(st, CAH_AMQP_LIBRARY_ERROR, 0, "cannot create socket");
        return NULL;
    }
    if (tls) {
        amqp_ssl_socket_set_verify_peer(sock, 1);
        amqp_ssl_socket_set_verify_hostname(sock, tls->verify_hostname ? 1 : 0);
        int trc = AMQP_STATUS_OK;
        if (tls->ca_file && (trc = amqp_ssl_socket_set_cacert(sock, tls->ca_file)) != AMQP_STATUS_OK) {
            set_library_error(st, trc, "TLS: cannot load the CA file");
        } else if (tls->cert_file && tls->key_file &&
                   (trc = amqp_ssl_socket_set_key(sock, tls->cert_file, tls->key_file)) != AMQP_STATUS_OK) {
            set_library_error(st, trc, "TLS: cannot load the client certificate or key");
        }
        if (trc != AMQP_STATUS_OK) {
            amqp_destroy_connection(conn);
            return NULL;
        }
    }
    struct timeval tv = {connect_timeout_ms / 1000, (connect_timeout_ms % 1000) * 1000};
    int rc = amqp_socket_open_noblock(sock, host, port, &tv);
    if (rc != AMQP_STATUS_OK) {
        set_library_error(st, rc, tls ? "TLS connect" : "connect");
        amqp_destroy_connection(conn);
        return NULL;
    }
    amqp_set_handshake_timeout(conn, &tv);
    amqp_rpc_reply_t r = amqp_login(conn, vhost, 0, 131072, heartbeat_seconds,
                                    AMQP_SASL_METHOD_PLAIN, user, password);
    if (check_reply(r, "login", st) != 0) {
        if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
            r.library_error == AMQP_STATUS_CONNECTION_CLOSED) {
            // RabbitMQ drops the socket on bad credentials or an unknown vhost.
            snprintf(st->message, sizeof st->message,
                     "login refused (wrong username/password, or vhost '%s' missing or not permitted)",
                     vhost);
        }
        amqp_destroy_connection(conn);
        return NULL;
    }
    return conn;
}

void cah_amqp_close(amqp_connection_state_t conn) {
    if (!conn) return;
    amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(conn);
}

int cah_amqp_channel_open(amqp_connection_state_t conn, uint16_t channel, cah_amqp_status *st) {
    amqp_channel_open(conn, channel);
    return check_reply(amqp_get_rpc_reply(conn), "channel.open", st);
}

int cah_amqp_exchange_declare(amqp_connection_state_t conn, uint16_t channel, const char *name,
                              const char *type, int durable, cah_amqp_status *st) {
    amqp_exchange_declare(conn, channel, amqp_cstring_bytes(name), amqp_cstring_bytes(type), 0,
                          durable ? 1 : 0, 0, 0, amqp_empty_table);
    return check_reply(amqp_get_rpc_reply(conn), "exchange.declare", st);
}

int cah_amqp_queue_declare(amqp_connection_state_t conn, uint16_t channel, const char *name,
                           int durable, int passive, const cah_amqp_arg *args, int n_args,
                           uint32_t *message_count, uint32_t *consumer_count,
                           cah_amqp_status *st) {
    amqp_table_entry_t entries[16];
    int n = 0;
    for (int i = 0; i < n_args && n < 16; i++) {
        entries[n].key = amqp_cstring_bytes(args[i].key);
        switch (args[i].kind) {
        case CAH_AMQP_ARG_STRING:
            entries[n].value.kind = AMQP_FIELD_KIND_UTF8;
            entries[n].value.value.bytes = amqp_cstring_bytes(args[i].string ? args[i].string : "");
            break;
        case CAH_AMQP_ARG_BOOL:
            entries[n].value.kind = AMQP_FIELD_KIND_BOOLEAN;
            entries[n].value.value.boolean = args[i].integer ? 1 : 0;
            break;
        default:
            entries[n].value.kind = AMQP_FIELD_KIND_I64;
            entries[n].value.value.i64 = args[i].integer;
            break;
        }
        n++;
    }
    amqp_table_t table = {n, entries};
    amqp_queue_declare_ok_t *ok = amqp_queue_declare(conn, channel, amqp_cstring_bytes(name),
                                                     passive ? 1 : 0, durable ? 1 : 0, 0, 0,
                                                     passive ? amqp_empty_table : table);
    if (check_reply(amqp_get_rpc_reply(conn), "queue.declare", st) != 0) return -1;
    if (ok) {
        if (message_count) *message_count = ok->message_count;
        if (consumer_count) *consumer_count = ok->consumer_count;
    }
    return 0;
}

int cah_amqp_queue_bind(amqp_connection_state_t conn, uint16_t channel, const char *queue,
                        const char *exchange, const char *routing_key, cah_amqp_status *st) {
    amqp_queue_bind(conn, channel, amqp_cstring_bytes(queue), amqp_cstring_bytes(exchange),
                    amqp_cstring_bytes(routing_key), amqp_empty_table);
    return check_reply(amqp_get_rpc_reply(conn), "queue.bind", st);
}

int cah_amqp_confirm_select(amqp_connection_state_t conn, uint16_t channel, cah_amqp_status *st) {
    amqp_confirm_select(conn, channel);
    return check_reply(amqp_get_rpc_reply(conn), "confirm.select", st);
}

int cah_amqp_basic_qos(amqp_connection_state_t conn, uint16_t channel, uint16_t prefetch,
                       cah_amqp_status *st) {
    amqp_basic_qos(conn, channel, 0, prefetch, 0);
    return check_reply(amqp_get_rpc_reply(conn), "basic.qos", st);
}

int cah_amqp_basic_consume(amqp_connection_state_t conn, uint16_t channel, const char *queue,
                           const char *consumer_tag, cah_amqp_status *st) {
    amqp_basic_consume(conn, channel, amqp_cstring_bytes(queue), amqp_cstring_bytes(consumer_tag),
                       0, 0 /* manual ack */, 0, amqp_empty_table);
    return check_reply(amqp_get_rpc_reply(conn), "basic.consume", st);
}

int cah_amqp_basic_consume_stream(amqp_connection_state_t conn, uint16_t channel,
                                  const char *queue, const char *consumer_tag, int64_t offset,
                                  cah_amqp_status *st) {
    amqp_table_entry_t entry;
    entry.key = amqp_cstring_bytes("x-stream-offset");
    if (offset >= 0) {
        entry.value.kind = AMQP_FIELD_KIND_I64;
        entry.value.value.i64 = offset;
    } else {
        entry.value.kind = AMQP_FIELD_KIND_UTF8;
        entry.value.value.bytes = amqp_cstring_bytes("first");
    }
    amqp_table_t args = {1, &entry};
    amqp_basic_consume(conn, channel, amqp_cstring_bytes(queue), amqp_cstring_bytes(consumer_tag),
                       0, 0 /* manual ack */, 0, args);
    return check_reply(amqp_get_rpc_reply(conn), "basic.consume", st);
}

/// The integer value of header `key`, or -1 when absent or not an integer.
static int64_t integer_header(const amqp_basic_properties_t *props, const char *key) {
    if (!(props->_flags & AMQP_BASIC_HEADERS_FLAG)) return -1;
    size_t key_len = strlen(key);
    for (int i = 0; i < props->headers.num_entries; i++) {
        const amqp_table_entry_t *e = &props->headers.entries[i];
        if (e->key.len != key_len || memcmp(e->key.bytes, key, key_len) != 0) continue;
        switch (e->value.kind) {
        case AMQP_FIELD_KIND_I8: return e->value.value.i8;
        case AMQP_FIELD_KIND_U8: return e->value.value.u8;
        case AMQP_FIELD_KIND_I16: return e->value.value.i16;
        case AMQP_FIELD_KIND_U16: return e->value.value.u16;
        case AMQP_FIELD_KIND_I32: return e->value.value.i32;
        case AMQP_FIELD_KIND_U32: return e->value.value.u32;
        case AMQP_FIELD_KIND_I64: return e->value.value.i64;
        case AMQP_FIELD_KIND_U64: return e->value.value.u64 > INT64_MAX ? -1 : (int64_t)e->value.value.u64;
        default: return -1;
        }
    }
    return -1;
}

/// The properties of a persistent message; `entry` holds the one header, when there is one.
static void fill_properties(amqp_basic_properties_t *props, amqp_table_entry_t *entry,
                            const char *content_type, const char *message_id,
                            const char *header_name, const char *header_value) {
    memset(props, 0, sizeof *props);
    props->_flags = AMQP_BASIC_DELIVERY_MODE_FLAG;
    props->delivery_mode = AMQP_DELIVERY_PERSISTENT;
    if (content_type) {
        props->_flags |= AMQP_BASIC_CONTENT_TYPE_FLAG;
        props->content_type = amqp_cstring_bytes(content_type);
    }
    if (message_id) {
        props->_flags |= AMQP_BASIC_MESSAGE_ID_FLAG;
        props->message_id = amqp_cstring_bytes(message_id);
    }
    if (header_name && header_value) {
        entry->key = amqp_cstring_bytes(header_name);
        entry->value.kind = AMQP_FIELD_KIND_UTF8;
        entry->value.value.bytes = amqp_cstring_bytes(header_value);
        props->_flags |= AMQP_BASIC_HEADERS_FLAG;
        props->headers.num_entries = 1;
        props->headers.entries = entry;
    }
}

int cah_amqp_publish(amqp_connection_state_t conn, uint16_t channel, const char *exchange,
                     const char *routing_key, int mandatory, const void *body, size_t body_len,
                     const char *content_type, const char *message_id, const char *header_name,
                     const char *header_value, cah_amqp_status *st) {
    amqp_basic_properties_t props;
    amqp_table_entry_t entry;
    fill_properties(&props, &entry, content_type, message_id, header_name, header_value);
    amqp_bytes_t payload = {body_len, (void *)body};
    int rc = amqp_basic_publish(conn, channel, amqp_cstring_bytes(exchange),
                                amqp_cstring_bytes(routing_key), mandatory ? 1 : 0, 0, &props,
                                payload);
    if (rc != AMQP_STATUS_OK) {
        set_library_error(st, rc, "basic.publish");
        return -1;
    }
    set_ok(st);
    return 0;
}

// AMQP 0-9-1 frame: type (1), channel (2), payload size (4), payload, end octet 0xCE.
enum { FRAME_HEAD = 7, FRAME_END = 0xCE };

static void put_u16(uint8_t *p, uint16_t v) { p[0] = v >> 8; p[1] = v & 0xFF; }
static void put_u32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (24 - 8 * i));
}
static void put_u64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (56 - 8 * i));
}

/// Room for `need` more bytes; 0 when memory ran out.
static int outbox_reserve(cah_amqp_outbox *o, size_t need) {
    if (o->cap - o->len >= need) return 1;
    size_t cap = o->cap ? o->cap : 16384;
    while (cap - o->len < need) cap *= 2;
    uint8_t *bytes = realloc(o->bytes, cap);
    if (!bytes) return 0;
    o->bytes = bytes;
    o->cap = cap;
    return 1;
}

/// Payload bytes a frame started at the end of the outbox may take: what is reserved, at most
/// `usable` (the frame size less head and end).
static size_t room(const cah_amqp_outbox *o, size_t usable) {
    size_t left = o->cap - o->len - FRAME_HEAD - 1;
    return left < usable ? left : usable;
}

/// Starts a frame at the end of the outbox (room reserved by the caller); returns where its
/// payload goes.
static uint8_t *frame_start(cah_amqp_outbox *o, uint8_t type, uint16_t channel) {
    uint8_t *f = o->bytes + o->len;
    f[0] = type;
    put_u16(f + 1, channel);
    return f + FRAME_HEAD;
}

/// Ends the frame started at `at` with `size` bytes of payload.
static void frame_end(cah_amqp_outbox *o, size_t at, size_t size) {
    put_u32(o->bytes + at + 3, (uint32_t)size);
    o->bytes[at + FRAME_HEAD + size] = FRAME_END;
    o->len = at + FRAME_HEAD + size + 1;
}

int cah_amqp_publish_buffered(amqp_connection_state_t conn, uint16_t channel,
                              const char *exchange, const char *routing_key, int mandatory,
                              const void *body, size_t body_len, const char *content_type,
                              const char *message_id, const char *header_name,
                              const char *header_value, cah_amqp_outbox *o,
                              cah_amqp_status *st) {
    size_t frame_max = (size_t)amqp_get_frame_max(conn);
    if (frame_max < 4096) frame_max = 4096;  // the protocol's minimum
    size_t usable = frame_max - FRAME_HEAD - 1;
    size_t start = o->len;
    // Both frames with every field's length and flag, or the frame size if that is less: an
    // encoder given too little room fails with AMQP_STATUS_BAD_AMQP_DATA, it never overruns.
    size_t strings = strlen(exchange) + strlen(routing_key) + (content_type ? strlen(content_type) : 0) +
                     (message_id ? strlen(message_id) : 0) + (header_name ? strlen(header_name) : 0) +
                     (header_value ? strlen(header_value) : 0);
    size_t bound = 2 * (FRAME_HEAD + 1) + 4 + 12 + 64 + strings;
    if (!outbox_reserve(o, bound < 2 * frame_max ? bound : 2 * frame_max)) {
        set_status(st, CAH_AMQP_LIBRARY_ERROR, 0, "basic.publish: out of memory");
        return -1;
    }

    amqp_basic_publish_t m = {0};
    m.exchange = amqp_cstring_bytes(exchange);
    m.routing_key = amqp_cstring_bytes(routing_key);
    m.mandatory = mandatory ? 1 : 0;
    uint8_t *p = frame_start(o, AMQP_FRAME_METHOD, channel);
    put_u32(p, AMQP_BASIC_PUBLISH_METHOD);
    amqp_bytes_t space = {room(o, usable) - 4, p + 4};
    int n = amqp_encode_method(AMQP_BASIC_PUBLISH_METHOD, &m, space);
    if (n < 0) {
        o->len = start;
        set_library_error(st, n, "basic.publish");
        return -1;
    }
    frame_end(o, start, (size_t)n + 4);

    amqp_basic_properties_t props;
    amqp_table_entry_t entry;
    fill_properties(&props, &entry, content_type, message_id, header_name, header_value);
    size_t header = o->len;
    p = frame_start(o, AMQP_FRAME_HEADER, channel);
    put_u16(p, AMQP_BASIC_CLASS);
    put_u16(p + 2, 0);  // weight
    put_u64(p + 4, body_len);
    space = (amqp_bytes_t){room(o, usable) - 12, p + 12};
    n = amqp_encode_properties(AMQP_BASIC_CLASS, &props, space);
    if (n < 0) {
        o->len = start;
        set_library_error(st, n, "basic.publish properties");
        return -1;
    }
    frame_end(o, header, (size_t)n + 12);

    for (size_t offset = 0; offset < body_len;) {
        size_t chunk = body_len - offset < usable ? body_len - offset : usable;
        if (!outbox_reserve(o, chunk + FRAME_HEAD + 1)) {
            o->len = start;
            set_status(st, CAH_AMQP_LIBRARY_ERROR, 0, "basic.publish: out of memory");
            return -1;
        }
        size_t at = o->len;
        memcpy(frame_start(o, AMQP_FRAME_BODY, channel), (const uint8_t *)body + offset, chunk);
        frame_end(o, at, chunk);
        offset += chunk;
    }
    set_ok(st);
    return 0;
}

/// Milliseconds on the monotonic clock.
static int64_t monotonic_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

int cah_amqp_outbox_flush(amqp_connection_state_t conn, cah_amqp_outbox *o, int timeout_ms,
                          cah_amqp_status *st) {
    int fd = amqp_get_sockfd(conn);
    size_t sent = 0;
    int64_t deadline = monotonic_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    char text[160];
    while (sent < o->len) {
        if (fd < 0) {
            set_status(st, CAH_AMQP_LIBRARY_ERROR, 0, "basic.publish: no socket");
            return -1;
        }
        ssize_t n = send(fd, o->bytes + sent, o->len - sent, MSG_NOSIGNAL);
        if (n > 0) {
            sent += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
            snprintf(text, sizeof text, "basic.publish: send: %s", strerror(errno));
            set_status(st, CAH_AMQP_LIBRARY_ERROR, 0, text);
            return -1;
        }
        // The socket's buffer is full: the broker reads on while its own writes wait, so
        // waiting for room cannot deadlock; confirms stay queued in the kernel meanwhile.
        int64_t left = deadline - monotonic_ms();
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        int ready = left > 0 ? poll(&pfd, 1, (int)left) : 0;
        if (ready < 0 && errno == EINTR) continue;
        if (ready <= 0) {
            snprintf(text, sizeof text,
                     "basic.publish: the broker took %zu of %zu bytes in %d ms", sent, o->len,
                     timeout_ms);
            set_status(st, CAH_AMQP_LIBRARY_ERROR, 0, text);
            return -1;
        }
    }
    o->len = 0;
    // A burst's buffer is not kept for the quiet hours after it.
    if (o->cap > (1u << 20)) cah_amqp_outbox_free(o);
    set_ok(st);
    return 0;
}

void cah_amqp_outbox_free(cah_amqp_outbox *o) {
    free(o->bytes);
    o->bytes = NULL;
    o->len = 0;
    o->cap = 0;
}

/// Reads a connection.close or channel.close method frame into status and answers it.
static void handle_close_frame(amqp_connection_state_t conn, amqp_frame_t *f, cah_amqp_status *st) {
    char text[400];
    if (f->payload.method.id == AMQP_CONNECTION_CLOSE_METHOD) {
        amqp_connection_close_t *m = (amqp_connection_close_t *)f->payload.method.decoded;
        copy_bytes(text, sizeof text, m->reply_text);
        st->kind = CAH_AMQP_CONNECTION_CLOSED;
        st->code = m->reply_code;
        snprintf(st->message, sizeof st->message, "connection closed by broker: %d %s",
                 m->reply_code, text);
        amqp_connection_close_ok_t ok;
        amqp_send_method(conn, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok);
    } else {
        amqp_channel_close_t *m = (amqp_channel_close_t *)f->payload.method.decoded;
        copy_bytes(text, sizeof text, m->reply_text);
        st->kind = CAH_AMQP_CHANNEL_CLOSED;
        st->code = m->reply_code;
        snprintf(st->message, sizeof st->message, "channel closed by broker: %d %s",
                 m->reply_code, text);
        amqp_channel_close_ok_t ok;
        amqp_send_method(conn, f->channel, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok);
    }
}

int cah_amqp_next_publisher_event(amqp_connection_state_t conn, int timeout_ms,
                                  uint64_t *delivery_tag, int *multiple, char *returned_id,
                                  size_t returned_id_len, cah_amqp_status *st) {
    amqp_frame_t frame;
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    set_ok(st);
    for (;;) {
        int rc = amqp_simple_wait_frame_noblock(conn, &frame, &tv);
        if (rc == AMQP_STATUS_TIMEOUT) return CAH_PUB_TIMEOUT;
        if (rc != AMQP_STATUS_OK) {
            set_library_error(st, rc, "waiting for publisher confirm");
            return CAH_PUB_ERROR;
        }
        if (frame.frame_type != AMQP_FRAME_METHOD) continue;
        switch (frame.payload.method.id) {
        case AMQP_BASIC_ACK_METHOD: {
            amqp_basic_ack_t *m = (amqp_basic_ack_t *)frame.payload.method.decoded;
            *delivery_tag = m->delivery_tag;
            *multiple = m->multiple;
            return CAH_PUB_ACK;
        }
        case AMQP_BASIC_NACK_METHOD: {
            amqp_basic_nack_t *m = (amqp_basic_nack_t *)frame.payload.method.decoded;
            *delivery_tag = m->delivery_tag;
            *multiple = m->multiple;
            return CAH_PUB_NACK;
        }
        case AMQP_BASIC_RETURN_METHOD: {
            amqp_basic_return_t *m = (amqp_basic_return_t *)frame.payload.method.decoded;
            int code = m->reply_code;
            amqp_message_t msg;
            amqp_rpc_reply_t r = amqp_read_message(conn, frame.channel, &msg, 0);
            if (r.reply_type != AMQP_RESPONSE_NORMAL) {
                check_reply(r, "reading returned message", st);
                return CAH_PUB_ERROR;
            }
            if (returned_id && returned_id_len) {
                returned_id[0] = 0;
                if (msg.properties._flags & AMQP_BASIC_MESSAGE_ID_FLAG)
                    copy_bytes(returned_id, returned_id_len, msg.properties.message_id);
            }
            amqp_destroy_message(&msg);
            *delivery_tag = 0;
            *multiple = code;
            return CAH_PUB_RETURN;
        }
        case AMQP_CONNECTION_CLOSE_METHOD:
        case AMQP_CHANNEL_CLOSE_METHOD:
            handle_close_frame(conn, &frame, st);
            return CAH_PUB_ERROR;
        default:
            continue;
        }
    }
}

int cah_amqp_consume(amqp_connection_state_t conn, int timeout_ms, size_t max_body,
                     cah_amqp_delivery *out, cah_amqp_status *st) {
    amqp_envelope_t env;
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    memset(out, 0, sizeof *out);
    set_ok(st);
    amqp_maybe_release_buffers(conn);
    amqp_rpc_reply_t r = amqp_consume_message(conn, &env, &tv, 0);
    if (r.reply_type == AMQP_RESPONSE_NORMAL) {
        out->channel = env.channel;
        out->delivery_tag = env.delivery_tag;
        out->redelivered = env.redelivered;
        copy_bytes(out->exchange, sizeof out->exchange, env.exchange);
        copy_bytes(out->routing_key, sizeof out->routing_key, env.routing_key);
        copy_bytes(out->consumer_tag, sizeof out->consumer_tag, env.consumer_tag);
        if (env.message.properties._flags & AMQP_BASIC_MESSAGE_ID_FLAG)
            copy_bytes(out->message_id, sizeof out->message_id, env.message.properties.message_id);
        out->stream_offset = integer_header(&env.message.properties, "x-stream-offset");
        out->total_len = env.message.body.len;
        out->body_len = out->total_len < max_body ? out->total_len : max_body;
        out->body = malloc(out->body_len ? out->body_len : 1);
        if (!out->body) {
            amqp_destroy_envelope(&env);
            set_status(st, CAH_AMQP_LIBRARY_ERROR, 0, "out of memory copying a message");
            return CAH_CONSUME_ERROR;
        }
        if (out->body_len) memcpy(out->body, env.message.body.bytes, out->body_len);
        amqp_destroy_envelope(&env);
        return CAH_CONSUME_DELIVERY;
    }
    if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION && r.library_error == AMQP_STATUS_TIMEOUT)
        return CAH_CONSUME_TIMEOUT;
    if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
        r.library_error == AMQP_STATUS_UNEXPECTED_STATE) {
        // A frame other than a delivery: read it and decide.
        amqp_frame_t frame;
        int rc = amqp_simple_wait_frame_noblock(conn, &frame, &tv);
        if (rc == AMQP_STATUS_TIMEOUT) return CAH_CONSUME_TIMEOUT;
        if (rc != AMQP_STATUS_OK) {
            set_library_error(st, rc, "reading frame");
            return CAH_CONSUME_ERROR;
        }
        if (frame.frame_type == AMQP_FRAME_METHOD) {
            switch (frame.payload.method.id) {
            case AMQP_BASIC_CANCEL_METHOD:
                set_status(st, CAH_AMQP_CHANNEL_CLOSED, 0, "consumer cancelled by broker");
                return CAH_CONSUME_CANCELLED;
            case AMQP_CONNECTION_CLOSE_METHOD:
            case AMQP_CHANNEL_CLOSE_METHOD:
                handle_close_frame(conn, &frame, st);
                return CAH_CONSUME_ERROR;
            default:
                return CAH_CONSUME_TIMEOUT;  // ack/nack/return on a consumer: ignore
            }
        }
        return CAH_CONSUME_TIMEOUT;
    }
    check_reply(r, "consume", st);
    return CAH_CONSUME_ERROR;
}

void cah_amqp_delivery_free(cah_amqp_delivery *d) {
    if (d && d->body) {
        free(d->body);
        d->body = NULL;
        d->body_len = 0;
    }
}

int cah_amqp_ack(amqp_connection_state_t conn, uint16_t channel, uint64_t tag, cah_amqp_status *st) {
    int rc = amqp_basic_ack(conn, channel, tag, 0);
    if (rc != AMQP_STATUS_OK) {
        set_library_error(st, rc, "basic.ack");
        return -1;
    }
    set_ok(st);
    return 0;
}

int cah_amqp_reject(amqp_connection_state_t conn, uint16_t channel, uint64_t tag, int requeue,
                    cah_amqp_status *st) {
    int rc = amqp_basic_reject(conn, channel, tag, requeue ? 1 : 0);
    if (rc != AMQP_STATUS_OK) {
        set_library_error(st, rc, "basic.reject");
        return -1;
    }
    set_ok(st);
    return 0;
}

int cah_amqp_idle(amqp_connection_state_t conn, int timeout_ms, cah_amqp_status *st) {
    amqp_frame_t frame;
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    set_ok(st);
    int rc = amqp_simple_wait_frame_noblock(conn, &frame, &tv);
    if (rc == AMQP_STATUS_TIMEOUT) return 0;
    if (rc != AMQP_STATUS_OK) {
        set_library_error(st, rc, "connection");
        return -1;
    }
    if (frame.frame_type == AMQP_FRAME_METHOD &&
        (frame.payload.method.id == AMQP_CONNECTION_CLOSE_METHOD ||
         frame.payload.method.id == AMQP_CHANNEL_CLOSE_METHOD)) {
        handle_close_frame(conn, &frame, st);
        return -1;
    }
    return 0;
}
