// Typed, non-variadic entry points into rabbitmq-c for Swift.
//
// Every function takes plain C strings and lengths, reports failures through a
// cah_amqp_status, and never keeps a pointer it was given after it returns.
// A connection is not thread-safe: the caller uses each one from one thread.
#ifndef CAH_AMQP_SHIM_H
#define CAH_AMQP_SHIM_H

#include <stddef.h>
#include <stdint.h>
#include <amqp.h>

typedef enum {
    CAH_AMQP_OK = 0,
    CAH_AMQP_LIBRARY_ERROR = 1,    // socket, timeout or protocol error in the client library
    CAH_AMQP_CONNECTION_CLOSED = 2, // the broker closed the connection (code, text)
    CAH_AMQP_CHANNEL_CLOSED = 3,    // the broker closed the channel (code, text)
} cah_amqp_status_kind;

typedef struct {
    int kind;           // cah_amqp_status_kind
    int code;           // AMQP reply code or rabbitmq-c status code
    char message[512];  // human-readable reason, NUL-terminated
} cah_amqp_status;

/// TLS for a connection: PEM files (NULL when not used). The broker's certificate is
/// always verified; with verify_hostname its DNS name is checked against `host`.
typedef struct {
    const char *ca_file;    // NULL: the system's CA store
    const char *cert_file;  // client certificate, with key_file, or NULL
    const char *key_file;
    int verify_hostname;
} cah_amqp_tls;

/// Opens a TCP socket (TLS when tls is not NULL) and logs in with PLAIN.
/// Returns NULL and fills status on failure.
amqp_connection_state_t cah_amqp_open(const char *host, int port, int connect_timeout_ms,
                                      const char *vhost, const char *user, const char *password,
                                      int heartbeat_seconds, const cah_amqp_tls *tls,
                                      cah_amqp_status *status);

/// Closes channel 1 and the connection politely, then frees everything.
void cah_amqp_close(amqp_connection_state_t conn);

int cah_amqp_channel_open(amqp_connection_state_t conn, uint16_t channel, cah_amqp_status *status);

int cah_amqp_exchange_declare(amqp_connection_state_t conn, uint16_t channel, const char *name,
                              const char *type, int durable, cah_amqp_status *status);

/// One queue argument (`x-queue-type`, `x-max-length`, `x-max-length-bytes`…).
typedef enum {
    CAH_AMQP_ARG_STRING = 0,
    CAH_AMQP_ARG_I64 = 1,
    CAH_AMQP_ARG_BOOL = 2,
} cah_amqp_arg_kind;

typedef struct {
    const char *key;
    int kind;            // cah_amqp_arg_kind
    const char *string;  // CAH_AMQP_ARG_STRING
    int64_t integer;     // CAH_AMQP_ARG_I64, or 0/1 for CAH_AMQP_ARG_BOOL
} cah_amqp_arg;

/// Declares a queue with `n_args` arguments (ignored when passive). On success fills the counts.
int cah_amqp_queue_declare(amqp_connection_state_t conn, uint16_t channel, const char *name,
                           int durable, int passive, const cah_amqp_arg *args, int n_args,
                           uint32_t *message_count, uint32_t *consumer_count,
                           cah_amqp_status *status);

int cah_amqp_queue_bind(amqp_connection_state_t conn, uint16_t channel, const char *queue,
                        const char *exchange, const char *routing_key, cah_amqp_status *status);

int cah_amqp_confirm_select(amqp_connection_state_t conn, uint16_t channel, cah_amqp_status *status);

int cah_amqp_basic_qos(amqp_connection_state_t conn, uint16_t channel, uint16_t prefetch,
                       cah_amqp_status *status);

int cah_amqp_basic_consume(amqp_connection_state_t conn, uint16_t channel, const char *queue,
                           const char *consumer_tag, cah_amqp_status *status);

/// Consumes a stream queue from `offset` (`x-stream-offset`): the offset itself when >= 0,
/// the start of the stream ("first") when negative. Manual ack, as streams require.
int cah_amqp_basic_consume_stream(amqp_connection_state_t conn, uint16_t channel,
                                  const char *queue, const char *consumer_tag, int64_t offset,
                                  cah_amqp_status *status);

/// Publishes a persistent message. Optional strings may be NULL; the header
/// (header_name, header_value) is added as a string header when both are set.
int cah_amqp_publish(amqp_connection_state_t conn, uint16_t channel, const char *exchange,
                     const char *routing_key, int mandatory, const void *body, size_t body_len,
                     const char *content_type, const char *message_id, const char *header_name,
                     const char *header_value, cah_amqp_status *status);

/// Publishes written ahead into one buffer and sent with as few send() calls as the socket
/// takes (cah_amqp_outbox_flush). Why: rabbitmq-c sends every publish as three send() calls
/// (method, header, body frames); at 20,000 confirmed messages/s that was 60,000 system calls
/// a second, most of the publisher's kernel time. The frames are encoded by rabbitmq-c's own
/// amqp_encode_method / amqp_encode_properties. Plain TCP only: a TLS connection's socket is
/// written by the library alone (cah_amqp_publish). Zero-initialise; free with
/// cah_amqp_outbox_free.
typedef struct {
    uint8_t *bytes;
    size_t len;
    size_t cap;
} cah_amqp_outbox;

/// Appends a persistent message's frames to the outbox, as cah_amqp_publish would send them.
/// Nothing is sent. Fails (and appends nothing) when a frame does not fit the frame size.
int cah_amqp_publish_buffered(amqp_connection_state_t conn, uint16_t channel,
                              const char *exchange, const char *routing_key, int mandatory,
                              const void *body, size_t body_len, const char *content_type,
                              const char *message_id, const char *header_name,
                              const char *header_value, cah_amqp_outbox *outbox,
                              cah_amqp_status *status);

/// Sends everything in the outbox on the connection's socket, waiting at most timeout_ms for
/// the socket to take it, and empties it. After a failure the connection is unusable (a frame
/// may be cut): close it.
int cah_amqp_outbox_flush(amqp_connection_state_t conn, cah_amqp_outbox *outbox, int timeout_ms,
                          cah_amqp_status *status);

void cah_amqp_outbox_free(cah_amqp_outbox *outbox);

typedef enum {
    CAH_PUB_TIMEOUT = 0,
    CAH_PUB_ACK = 1,
    CAH_PUB_NACK = 2,
    CAH_PUB_RETURN = 3,  // basic.return: the message was unroutable (an ack follows)
    CAH_PUB_ERROR = -1,
} cah_publisher_event_kind;

/// Waits up to timeout_ms for the next publisher-side event on a confirm channel.
/// For CAH_PUB_RETURN, `returned_id` gets the returned message's message_id (empty if none):
/// with many publishes in flight, that is how the caller knows which one was unroutable.
int cah_amqp_next_publisher_event(amqp_connection_state_t conn, int timeout_ms,
                                  uint64_t *delivery_tag, int *multiple, char *returned_id,
                                  size_t returned_id_len, cah_amqp_status *status);

typedef struct {
    uint16_t channel;
    uint64_t delivery_tag;
    int redelivered;
    char exchange[256];
    char routing_key[256];
    char consumer_tag[256];
    char message_id[256];
    int64_t stream_offset;  // the `x-stream-offset` header of a stream message, or -1
    uint8_t *body;      // malloc'd; release with cah_amqp_delivery_free
    size_t body_len;    // bytes in `body`: at most the max_body asked for
    size_t total_len;   // the message's whole body as the broker sent it
} cah_amqp_delivery;

typedef enum {
    CAH_CONSUME_TIMEOUT = 0,
    CAH_CONSUME_DELIVERY = 1,
    CAH_CONSUME_CANCELLED = 2,  // the broker cancelled our consumer (queue deleted)
    CAH_CONSUME_ERROR = -1,
} cah_consume_result;

/// Waits up to timeout_ms for a delivery; also services heartbeats.
/// Copies at most max_body bytes of the body (total_len says how long it was): a message
/// over the limit is refused whole, so only its head needs to leave the library's buffer.
int cah_amqp_consume(amqp_connection_state_t conn, int timeout_ms, size_t max_body,
                     cah_amqp_delivery *out, cah_amqp_status *status);
void cah_amqp_delivery_free(cah_amqp_delivery *delivery);

int cah_amqp_ack(amqp_connection_state_t conn, uint16_t channel, uint64_t delivery_tag,
                 cah_amqp_status *status);
int cah_amqp_reject(amqp_connection_state_t conn, uint16_t channel, uint64_t delivery_tag,
                    int requeue, cah_amqp_status *status);

/// Waits up to timeout_ms for any frame, so heartbeats flow on an idle connection.
/// Returns 0 on timeout or a heartbeat, -1 when the connection is gone.
int cah_amqp_idle(amqp_connection_state_t conn, int timeout_ms, cah_amqp_status *status);

#endif
