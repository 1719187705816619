/// The seed's `pack`/`unpack`, with JSON instead of pickle: what goes into the JSON columns
/// (config, retval, exception, exception_tb, log record).
public enum Packing {
    /// Compact JSON text with sorted keys.
    public static func pack(_ value: JSONValue) -> String {
        value.jsonText()
    }

    public static func unpack(_ text: String) throws(StorageError) -> JSONValue {
        do {
            return try JSONValue.parse(text)
        } catch {
            throw StorageError(.query, "stored value is not valid JSON: \(text.prefix(80))")
        }
    }

    /// The seed's `pack_exception`: any error as JSON.
    public static func packException(_ error: any Error) -> String {
        pack(BuildException(wrapping: error).json)
    }
}
