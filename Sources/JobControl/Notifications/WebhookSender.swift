import CWebhook
import Dispatch
import FoundationEssentials
import Glibc

/// POSTs a webhook's body with libcurl (`CWebhook`, loaded on first use), signed with
/// HMAC-SHA256 as GitHub signs its webhooks: `X-JobControl-Signature-256: sha256=<hex>` over the
/// exact body bytes, keyed by the channel's `secret`.
enum WebhookSender {
    struct Response {
        var status: Int
        var body: String
    }

    enum Failure: Error, CustomStringConvertible {
        case transfer(String)
        case signature(String)

        var description: String {
            switch self {
            case .transfer(let message): message
            case .signature(let message): "cannot sign the body: \(message)"
            }
        }
    }

    /// `sha256=` and the hex digest of HMAC-SHA256(key, body).
    static func signature(key: String, body: [UInt8]) throws(Failure) -> String {
        var digest = [UInt8](repeating: 0, count: 32)
        let keyBytes = Array(key.utf8)
        let failure = keyBytes.withUnsafeBytes { keyBuffer in
            body.withUnsafeBytes { bodyBuffer in
                jobcontrol_hmac_sha256(
                    keyBuffer.baseAddress, keyBuffer.count, bodyBuffer.baseAddress, bodyBuffer.count, &digest)
            }
        }
        if let failure { throw .signature(String(cString: failure)) }
        return "sha256=" + digest.hexText
    }

    /// `caFile`: PEM certificates to verify an HTTPS server with, instead of the system's.
    static func post(
        url: String, headers: [String: String], body: String, timeout: TimeInterval, caFile: String? = nil
    ) async throws(Failure)
        -> Response
    {
        let lines = headers.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" } + ["Expect:"]
        // Each transfer blocks a thread of its own for up to its timeout (deliveries at once are
        // bounded by `notifications.concurrency`). Not a Dispatch queue: a receiver that never
        // answers held Dispatch's workers, which Swift's tasks share on Linux, and every build on
        // the host slowed to the pace Dispatch adds threads (about one a second).
        let result: Result<Response, Failure> = await withCheckedContinuation { continuation in
            let started = DedicatedThread.startIfPossible(name: "webhook") {
                continuation.resume(
                    returning: postBlocking(url: url, headers: lines, body: body, timeout: timeout, caFile: caFile))
            }
            if !started {
                continuation.resume(
                    returning: .failure(
                        .transfer("cannot start a thread for the transfer; the system refused one")))
            }
        }
        return try result.get()
    }

    private static func postBlocking(
        url: String, headers: [String], body: String, timeout: TimeInterval, caFile: String?
    )
        -> Result<Response, Failure>
    {
        var response = jobcontrol_http_response()
        let cHeaders = headers.map { strdup($0) }
        defer { cHeaders.forEach { free($0) } }
        let bytes = Array(body.utf8)
        let code = cHeaders.map { UnsafePointer<CChar>($0) }.withUnsafeBufferPointer { headerPointers in
            bytes.withUnsafeBytes { bodyBuffer in
                jobcontrol_http_post(
                    url, headerPointers.baseAddress, Int32(headerPointers.count),
                    bodyBuffer.baseAddress?.assumingMemoryBound(to: CChar.self), bodyBuffer.count,
                    Int(timeout * 1000), caFile, &response)
            }
        }
        guard code == 0 else {
            let message = withUnsafeBytes(of: response.error) { buffer in
                String(decoding: buffer.prefix { $0 != 0 }, as: UTF8.self)
            }
            return .failure(.transfer(message))
        }
        let start = withUnsafeBytes(of: response.body) { buffer in
            String(decoding: buffer.prefix(Int(response.body_length)), as: UTF8.self)
        }
        return .success(Response(status: Int(response.status), body: start))
    }
}
