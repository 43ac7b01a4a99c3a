//! Admission before decoding: [`AdmitLayer`] weighs a `GetMailTips` request from its wire
//! bytes and takes its share of the evaluation gate (`api::admission`) before tonic decodes
//! it, so that a refused call costs a scan of its bytes, not the decoding of every address.
//!
//! A flooder retrying 1,000-recipient drafts as fast as it can gets most of its calls refused;
//! decoding each one (a thousand strings allocated and freed) took most of the server's CPU
//! while the gate refused them. The weight is exact: a draft weighs its recipients plus one,
//! and each recipient is one occurrence of field 2 of the message, counted without decoding.
//! The permit goes to the handler in the request's extensions ([`Admitted`]) and is held until
//! the call ends, as when the handler took it itself. A request the scan cannot weigh (not a
//! well-formed message, compressed, or larger than the decoder accepts) goes on unweighed:
//! the handler's decoding refuses it, or weighs it after decoding.
//!
//! A `WatchMailTips` request is weighed the same way and takes its slot under the stream caps
//! (one stream, and its recipients plus one) before it is decoded ([`WatchSlot`]): thousands
//! of streams past the caps are refused without decoding their drafts.
//!
//! An admitted call then waits for its turn in its caller's lane ([`Permit::turn`],
//! `max_running_recipients_per_caller`), and holds it while it is decoded, evaluated and its
//! answer encoded: a flooder's admitted 1,000-recipient calls run one after the other, beside
//! everybody else's, not on every worker at once. A heavy call (more than [`HEAVY`]
//! recipients) yields between being weighed and being decoded, and is evaluated on the
//! lower-priority heavy runtime (`api::heavy`), so that no single poll of a request worker is
//! long.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http_body::{Frame, SizeHint};
use http_body_util::BodyExt;
use tonic::body::Body;
use tower::{Layer, Service};

use crate::api::admission::{Gate, Permit};
use crate::api::caller::Caller;
use crate::api::conn::{Holding, Release};

/// The methods whose calls are weighed before decoding.
const GET_MAIL_TIPS: &str = "/mailtips.v1.MailTipsService/GetMailTips";
const WATCH_MAIL_TIPS: &str = "/mailtips.v1.MailTipsService/WatchMailTips";

/// Recipients past which a call is heavy: it yields to the calls queued on its worker between
/// being weighed (here) and being decoded, and is evaluated on the heavy runtime, at a lower
/// CPU priority than the request workers (`api::handler`, `api::heavy`). A 1,000-recipient
/// draft takes a millisecond or more to evaluate, and a request worker doing it keeps every
/// call queued behind it waiting; a draft of up to this many is evaluated on the worker (it
/// is short, and a hand-over to another thread would only stretch its latency).
pub(crate) const HEAVY: usize = 256;

/// The largest message weighed: tonic's own bound on a decoded message (4 MiB); a larger one
/// goes on unread and tonic refuses it.
const MAX_MESSAGE: usize = 4 << 20;

/// A call's share of the evaluation gate, taken before its body was decoded; the handler
/// holds it until the call ends. (Extensions must be `Clone`, hence the `Arc`: the one taken
/// out by the handler is the only one left.)
#[derive(Debug, Clone)]
pub(crate) struct Admitted(#[allow(dead_code, reason = "held, never read")] Arc<Permit>);

impl Admitted {
    pub(crate) fn new(permit: Permit) -> Self {
        Self(Arc::new(permit))
    }
}

/// A `WatchMailTips` stream's slot under the open-stream caps and its draft's recipients under
/// the watched-recipient caps, taken before its body was decoded; the stream holds it until it
/// ends. (`Arc` for the same reason as [`Admitted`].)
#[derive(Debug, Clone)]
pub(crate) struct WatchSlot(#[allow(dead_code, reason = "held, never read")] Arc<(Permit, Permit)>);

impl WatchSlot {
    pub(crate) fn new(stream: Permit, recipients: Permit) -> Self {
        Self(Arc::new((stream, recipients)))
    }
}

/// The gates the handler uses, for [`AdmitService`]: recipients in evaluation, open
/// `WatchMailTips` streams, and the recipients they keep.
#[derive(Debug, Clone)]
pub(crate) struct AdmitLayer {
    pub(crate) evaluating: Arc<Gate>,
    pub(crate) watching: Arc<Gate>,
    pub(crate) watched: Arc<Gate>,
}

impl<S> Layer<S> for AdmitLayer {
    type Service = AdmitService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AdmitService {
            inner,
            gates: self.clone(),
        }
    }
}

/// See the module documentation.
#[derive(Debug, Clone)]
pub(crate) struct AdmitService<S> {
    inner: S,
    gates: AdmitLayer,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S> Service<http::Request<Body>> for AdmitService<S>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let watch = match request.uri().path() {
            GET_MAIL_TIPS => false,
            WATCH_MAIL_TIPS => true,
            _ => return Box::pin(self.inner.call(request)),
        };
        // The instance that was polled ready serves this call; a clone waits for the next.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        if watch {
            return Box::pin(admit_watch(inner, request, self.gates.clone()));
        }
        let gate = self.gates.evaluating.clone();
        Box::pin(async move {
            let (mut parts, body) = request.into_parts();
            let (read, body) = read_message(body).await;
            let Some(recipients) = read.as_deref().and_then(count_recipients) else {
                return inner.call(http::Request::from_parts(parts, body)).await;
            };
            let key = Caller::in_extensions(&parts.extensions).key();
            let permit = match gate.try_acquire(&key, recipients + 1) {
                Ok(permit) => permit,
                // The rest of the body is never read: the stream is reset once answered.
                Err(refused) => return Ok(refused.into_http()),
            };
            // Decoding, evaluating and encoding the answer run in the caller's lane.
            let turn = permit.turn().await;
            if recipients > HEAVY as u64 {
                // Reading and weighing was one step; decoding is the next.
                tokio::task::yield_now().await;
            }
            parts.extensions.insert(Admitted::new(permit));
            let response = inner.call(http::Request::from_parts(parts, body)).await?;
            // The turn in the lane is held until the answer is encoded.
            Ok(response.map(|body| match turn {
                Some(turn) => Body::new(Holding::new(body, turn, Release::AtFirstFrame)),
                None => body,
            }))
        })
    }
}

/// A `WatchMailTips` call: weighed, and its slot under the stream caps taken (or the call
/// refused) before it is decoded. The first answer's evaluation is admitted by the handler.
async fn admit_watch<S>(
    mut inner: S,
    request: http::Request<Body>,
    gates: AdmitLayer,
) -> Result<http::Response<Body>, S::Error>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>>,
{
    let (mut parts, body) = request.into_parts();
    let (read, body) = read_message(body).await;
    if let Some(recipients) = read.as_deref().and_then(count_recipients) {
        let key = Caller::in_extensions(&parts.extensions).key();
        let slot = gates.watching.try_acquire(&key, 1).and_then(|stream| {
            let kept = gates.watched.try_acquire(&key, recipients + 1)?;
            Ok(WatchSlot::new(stream, kept))
        });
        match slot {
            Ok(slot) => {
                parts.extensions.insert(slot);
            }
            Err(refused) => return Ok(refused.into_http()),
        }
    }
    inner.call(http::Request::from_parts(parts, body)).await
}

/// Reads the first gRPC message of `body`: its bytes (without the 5-byte frame header) when
/// it is uncompressed, at most [`MAX_MESSAGE`] long and arrived whole, and the body to hand
/// on, which yields everything read again, then the rest.
async fn read_message(mut body: Body) -> (Option<Bytes>, Body) {
    // The first data frame is kept as it came: it usually holds the whole message, which then
    // costs no allocation and no copy. Only a message spread over frames is gathered into one
    // buffer, sized for the message once its length is known.
    let mut first = Bytes::new();
    let mut gathered: Option<BytesMut> = None;
    let mut after = After::Rest;
    let wanted = loop {
        let seen: &[u8] = gathered.as_deref().unwrap_or(&first);
        let wanted = match seen.get(..5) {
            None => None,
            Some(h) => {
                let len = u32::from_be_bytes([h[1], h[2], h[3], h[4]]) as usize;
                (h[0] == 0 && len <= MAX_MESSAGE).then_some(5 + len)
            }
        };
        match wanted {
            Some(w) if seen.len() >= w => break Some(w),
            None if seen.len() >= 5 => break None,
            _ => {}
        }
        match body.frame().await {
            None => {
                after = After::End;
                break None;
            }
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => match gathered.as_mut() {
                    Some(g) => g.extend_from_slice(&data),
                    None if first.is_empty() => first = data,
                    None => {
                        let size = wanted.unwrap_or(0).max(first.len() + data.len());
                        let mut g = BytesMut::with_capacity(size);
                        g.extend_from_slice(&first);
                        g.extend_from_slice(&data);
                        gathered = Some(g);
                    }
                },
                Err(frame) => {
                    after = After::Frame(Ok(frame));
                    break None;
                }
            },
            Some(Err(e)) => {
                after = After::Frame(Err(e));
                break None;
            }
        }
    };
    let head = gathered.map_or(first, BytesMut::freeze);
    let message = wanted.map(|w| head.slice(5..w));
    let rest = Replay {
        head: (!head.is_empty()).then_some(head),
        after,
        body,
    };
    (message, Body::new(rest))
}

/// What follows the replayed bytes.
enum After {
    /// The rest of the body.
    Rest,
    /// A frame read while looking for the message (trailers, or the body's error), then the
    /// rest.
    Frame(Result<Frame<Bytes>, tonic::Status>),
    /// Nothing: the body ended.
    End,
}

/// A request body whose first bytes were read already: yields them, then the rest.
struct Replay {
    head: Option<Bytes>,
    after: After,
    body: Body,
}

impl http_body::Body for Replay {
    type Data = Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, tonic::Status>>> {
        let this = &mut *self;
        if let Some(head) = this.head.take() {
            return Poll::Ready(Some(Ok(Frame::data(head))));
        }
        match std::mem::replace(&mut this.after, After::Rest) {
            After::Frame(frame) => Poll::Ready(Some(frame)),
            After::End => {
                this.after = After::End;
                Poll::Ready(None)
            }
            After::Rest => Pin::new(&mut this.body).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.head.is_none()
            && match self.after {
                After::End => true,
                After::Frame(_) => false,
                After::Rest => self.body.is_end_stream(),
            }
    }

    fn size_hint(&self) -> SizeHint {
        let head = self.head.as_ref().map_or(0, |h| h.len() as u64);
        match self.after {
            After::End => SizeHint::with_exact(head),
            After::Frame(_) => SizeHint::new(),
            After::Rest => {
                let rest = self.body.size_hint();
                let mut hint = SizeHint::new();
                hint.set_lower(rest.lower() + head);
                if let Some(upper) = rest.upper() {
                    hint.set_upper(upper + head);
                }
                hint
            }
        }
    }
}

/// The recipients of an encoded `GetMailTipsRequest` (the occurrences of field 2, each one
/// element of the repeated field when decoded), counted without decoding; `None` when the
/// bytes are not a well-formed message.
fn count_recipients(mut buf: &[u8]) -> Option<u64> {
    use prost::encoding::decode_varint;
    let mut recipients = 0;
    while !buf.is_empty() {
        let key = decode_varint(&mut buf).ok()?;
        let (field, wire_type) = (key >> 3, key & 7);
        if field == 0 {
            return None;
        }
        match wire_type {
            0 => {
                decode_varint(&mut buf).ok()?;
            }
            1 => buf = buf.get(8..)?,
            2 => {
                let len = usize::try_from(decode_varint(&mut buf).ok()?).ok()?;
                buf = buf.get(len..)?;
                if field == 2 {
                    recipients += 1;
                }
            }
            5 => buf = buf.get(4..)?,
            _ => return None,
        }
        if field == 2 && wire_type != 2 {
            return None;
        }
    }
    Some(recipients)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::pb;
    use prost::Message;

    fn request(recipients: usize) -> pb::GetMailTipsRequest {
        pb::GetMailTipsRequest {
            sender: "taro.yamada@contoso.com".into(),
            recipients: (0..recipients)
                .map(|i| pb::Recipient {
                    address: format!("user{i}@contoso.com"),
                    field: pb::RecipientField::Cc as i32,
                })
                .collect(),
            message_size_bytes: 1 << 40,
            reply_all: Some(pb::ReplyAllContext {
                original_to: vec!["a@contoso.com".into(); 3],
                ..Default::default()
            }),
            tip_kinds: vec![1, 2, 3],
            locale: "ja-JP".into(),
            read_receipt_requested: true,
        }
    }

    #[test]
    fn counts_recipients_as_prost_decodes_them() {
        for n in [0, 1, 2, 127, 128, 1000] {
            let bytes = request(n).encode_to_vec();
            assert_eq!(count_recipients(&bytes), Some(n as u64));
            let decoded = pb::GetMailTipsRequest::decode(bytes.as_slice()).unwrap();
            assert_eq!(decoded.recipients.len(), n);
        }
        // Repeated occurrences of a scalar field, fixed-width fields: skipped.
        assert_eq!(count_recipients(&[0x09, 1, 2, 3, 4, 5, 6, 7, 8]), Some(0));
        assert_eq!(count_recipients(&[0x0d, 1, 2, 3, 4, 0x12, 0]), Some(1));
    }

    #[test]
    fn malformed_bytes_are_not_weighed() {
        let bytes = request(3).encode_to_vec();
        assert_eq!(count_recipients(&bytes[..bytes.len() - 1]), None);
        for bad in [
            &[0x00][..],         // field 0
            &[0x10, 0x01],       // field 2 as a varint
            &[0x12, 0x05, 0x01], // length past the end
            &[0x0b],             // group start
            &[0x08, 0xff],       // unterminated varint
            &[
                0x12, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
            ],
        ] {
            assert_eq!(count_recipients(bad), None, "{bad:?}");
        }
    }

    fn framed(message: &[u8]) -> Vec<u8> {
        let mut out = vec![0];
        out.extend_from_slice(&u32::try_from(message.len()).unwrap().to_be_bytes());
        out.extend_from_slice(message);
        out
    }

    async fn collect(body: Body) -> Vec<u8> {
        body.collect().await.unwrap().to_bytes().to_vec()
    }

    /// A body of the given chunks, then its end.
    fn chunked(chunks: Vec<impl Into<Bytes>>) -> Body {
        let frames: Vec<_> = chunks
            .into_iter()
            .map(|c| Ok::<_, tonic::Status>(Frame::data(c.into())))
            .collect();
        Body::new(http_body_util::StreamBody::new(futures_util::stream::iter(
            frames,
        )))
    }

    #[tokio::test]
    async fn reads_the_message_across_chunks_and_replays_every_byte() {
        let message = request(5).encode_to_vec();
        let whole = framed(&message);
        let chunks: Vec<Vec<u8>> = whole.chunks(3).map(<[u8]>::to_vec).collect();
        let (read, body) = read_message(chunked(chunks)).await;
        assert_eq!(read.as_deref(), Some(message.as_slice()));
        assert_eq!(collect(body).await, whole);
    }

    #[tokio::test]
    async fn a_message_in_one_frame_is_read_without_a_copy() {
        let message = request(200).encode_to_vec();
        let frame = Bytes::from(framed(&message));
        let (read, body) = read_message(chunked(vec![frame.clone()])).await;
        let read = read.expect("the message");
        assert_eq!(read, message);
        assert_eq!(read.as_ptr(), frame[5..].as_ptr(), "the frame's own bytes");
        assert_eq!(collect(body).await, frame.to_vec());
    }

    #[tokio::test]
    async fn compressed_short_and_oversized_bodies_are_passed_on_unread() {
        let mut compressed = framed(b"\x12\x00");
        compressed[0] = 1;
        let short = framed(&request(2).encode_to_vec())[..20].to_vec();
        let mut oversized = vec![0];
        oversized.extend_from_slice(&(u32::try_from(MAX_MESSAGE).unwrap() + 1).to_be_bytes());
        for bytes in [compressed, short, oversized, vec![], vec![0, 0]] {
            let (read, body) = read_message(chunked(vec![bytes.clone()])).await;
            assert_eq!(read, None);
            assert_eq!(collect(body).await, bytes);
        }
    }
}
