/// The version every piece reports (`jobctl status`, the cluster's `daemon` table).
public enum JobControlVersion {
    public static let current = "0.1.0"
}
