/**
 * The raw peer link's wire format. A dialing node opens a TCP connection to
 * the peer's gRPC port and sends PEER_LINK_MAGIC; the port's listener tells
 * this apart from gRPC's HTTP/2 preface ("PRI * HTTP/2.0…") by those first
 * bytes. After it, each direction is a sequence of frames: a u32 (big-endian)
 * length, then that many bytes of protobuf (MessageBatch from the dialer,
 * BatchAck back).
 *
 * Why not a gRPC stream: on the 2-core benchmark machine a gRPC stream
 * message cost ~40–60 µs more per hop than a plain socket write (HTTP/2
 * framing, flow control and grpc-js's stream layers on both ends), and a
 * 1-client write crosses the peer link twice.
 */
export const PEER_LINK_MAGIC = Buffer.from('CAIRNRL1', 'latin1');
