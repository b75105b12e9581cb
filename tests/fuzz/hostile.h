/*
 * hostile.h: a scripted, hostile RTSP server for one connection.
 *
 * The script is a byte string (a fuzzer's input, or a crafted case from
 * tests/fuzz/corpus/rtsp/) read as records:
 *
 *   record := type:u8  length:u16 (big-endian)  payload[length]
 *
 * A length running past the end is cut to what is left, and a type this
 * version does not know is skipped, so every byte string is a script.
 *
 * Control records shape the answers to the client's requests; each request
 * takes the control records in front of it, up to and including one REPLY:
 *   SDP     the DESCRIBE body from now on (default: a valid H.264 SDP)
 *   HEADER  one more header line (no CRLF needed) in the next answer
 *   REPLY   the next answer, sent verbatim instead of the server's own
 *   STATUS  payload "NNN": the status code of the next answer
 * Media records are sent once PLAY has been answered, until the next
 * control record (which waits for the next request) or the end:
 *   RTP     payload[0] is the interleaved channel, the rest one frame
 *   RTPH    an RTP packet with a header the server keeps consistent:
 *           payload[0] channel, [1] marker<<7 | payload type,
 *           [2..3] sequence step, [4..7] timestamp step, rest the payload
 *   RAW     bytes written as they are (truncated or lying '$' frames)
 *   PAUSE   payload[0] x 10 ms of silence (at most 1 s in all)
 *   CLOSE   close the connection now
 * Records for cameras that never stop (issue 11, the bounds on memory and
 * on timestamps), numbered apart from the others:
 *   PACE    payload[0] ms before each access unit from now on (before each
 *           RTPH record with a timestamp step); not counted as a pause
 *   LOOP    payload u16 count, u32 back: jumps back that many bytes from
 *           the start of this record, count times (one loop per script)
 *   FLOOD   a control record: before the answer to PLAY, sends u16 units
 *           of u16 FU-A fragments of u16 bytes each, the timestamp rising
 *           by u32 per unit (video the client must hold before PLAY)
 * The client's own requests and interleaved RTCP are read and answered
 * (OPTIONS, DESCRIBE, SETUP with the channels it asked for, PLAY,
 * GET_PARAMETER, TEARDOWN ...) throughout.
 *
 * Cameras that never let a wait end (each until the client hangs up or
 * the budget runs out):
 *   STALL   control: payload[0] x 10 ms, then bytes.  After the next
 *           answer the server answers nothing more and sends the bytes
 *           one at a time, cycling ('x' when none), one per interval.
 *   REPEAT  media: payload[0] x 10 ms, then one media record (type,
 *           length, payload) sent every interval from now on, the rest of
 *           the script never (RTCP only, another payload type only ...).
 *   AUTH    control: WWW-Authenticate values, one a line.  From now on a
 *           request without an Authorization header is answered 401 with
 *           them; hostile_stats.basic_auth counts Basic credentials that
 *           came (a password that crossed in clear).
 */
#ifndef VIGIL_TESTS_FUZZ_HOSTILE_H
#define VIGIL_TESTS_FUZZ_HOSTILE_H

#include <stddef.h>
#include <stdint.h>

enum hostile_record {
	HOSTILE_SDP = 1,
	HOSTILE_RTP = 2,
	HOSTILE_RAW = 3,
	HOSTILE_REPLY = 4,
	HOSTILE_HEADER = 5,
	HOSTILE_PAUSE = 6,
	HOSTILE_CLOSE = 7,
	HOSTILE_RTPH = 8,
	HOSTILE_STATUS = 9,
	HOSTILE_STALL = 10,
	HOSTILE_REPEAT = 11,
	HOSTILE_AUTH = 12,
	/* cameras that never stop (issue 11) */
	HOSTILE_PACE = 20,
	HOSTILE_LOOP = 21,
	HOSTILE_FLOOD = 22,
};

struct hostile_stats {
	int requests;	   /* RTSP requests answered */
	int media;	   /* media records sent */
	int played;	   /* PLAY was answered */
	int client_closed; /* the client hung up first */
	int basic_auth;	   /* requests that carried Basic credentials */
};

/*
 * Serves the RTSP client connected on fd from script until the script
 * ends (the connection is then closed by the caller), the client hangs up,
 * or budget_ms pass.  fd is made non-blocking.  Returns 0, or -1 when the
 * budget ran out with the client still connected.
 */
int hostile_serve(int fd, const uint8_t *script, size_t size, int budget_ms,
		  struct hostile_stats *stats);

#endif
