import Foundation
import GlimpseCaptioning
import GlimpseImage
import GlimpseSupport

/// `--shard i/n`: file k of n by a hash of its path relative to the folder, so the split
/// is the same on every machine and every run, whatever the order files are found in.
struct Shard: Equatable {
    let index: Int
    let count: Int

    static let whole = Shard(index: 0, count: 1)

    /// "i/n" with 0 ≤ i < n.
    init?(_ text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let index = Int(parts[0]), let count = Int(parts[1]), count >= 1,
              (0..<count).contains(index) else { return nil }
        self.init(index: index, count: count)
    }

    init(index: Int, count: Int) {
        self.index = index
        self.count = count
    }

    func contains(relativePath: String) -> Bool {
        count == 1 || Int(Self.hash(relativePath) % UInt64(count)) == index
    }

    /// 64-bit FNV-1a of the name's bytes (`FileName`): fixed by definition, unlike Swift's seeded `Hasher`.
    static func hash(_ text: String) -> UInt64 { FNV1a.hash(FileName.bytes(text)) }
}
