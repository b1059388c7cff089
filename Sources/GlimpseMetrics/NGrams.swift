/// Words, n-grams and their counts, shared by BLEU and CIDEr-D.
///
/// Words are interned to integer ids so that hot loops hash two machine words per n-gram
/// instead of concatenated strings.

/// Compares text by Unicode scalars, as Python's `str` does. Swift's `String ==` uses canonical
/// equivalence and would merge a precomposed "é" with "e" + U+0301, which pycocoevalcap keeps apart.
struct ExactText: Hashable {
    let text: Substring

    static func == (lhs: ExactText, rhs: ExactText) -> Bool {
        lhs.text.utf8.elementsEqual(rhs.text.utf8)
    }

    func hash(into hasher: inout Hasher) {
        let hashed: Void? = text.utf8.withContiguousStorageIfAvailable {
            hasher.combine(bytes: UnsafeRawBufferPointer($0))
        }
        if hashed == nil {
            for byte in text.utf8 { hasher.combine(byte) }
        }
        hasher.combine(0xFF as UInt8)  // no UTF-8 byte is 0xFF: terminates the text
    }
}

/// Assigns each distinct word a small id, starting at 1 (0 marks an empty n-gram slot).
struct Vocabulary {
    private var ids: [ExactText: UInt32] = [:]

    mutating func id(of word: Substring) -> UInt32 {
        let key = ExactText(text: word)
        if let id = ids[key] { return id }
        let id = UInt32(ids.count + 1)
        ids[key] = id
        return id
    }

    mutating func ids(of words: [Substring]) -> [UInt32] { words.map { id(of: $0) } }
}

/// An n-gram of one to four word ids packed into two 64-bit words; unused slots are 0.
struct NGram: Equatable {
    let head: UInt64
    let tail: UInt64

    init(_ ids: ArraySlice<UInt32>) {
        precondition((1...4).contains(ids.count), "n-grams have one to four words")
        var slots: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        let start = ids.startIndex
        slots.0 = UInt64(ids[start])
        if ids.count > 1 { slots.1 = UInt64(ids[start + 1]) }
        if ids.count > 2 { slots.2 = UInt64(ids[start + 2]) }
        if ids.count > 3 { slots.3 = UInt64(ids[start + 3]) }
        head = slots.0 << 32 | slots.1
        tail = slots.2 << 32 | slots.3
    }

    init(head: UInt64, tail: UInt64) {
        self.head = head
        self.tail = tail
    }

    /// Number of words, 1…4.
    var order: Int {
        if tail & 0xFFFF_FFFF != 0 { return 4 }
        if tail != 0 { return 3 }
        if head & 0xFFFF_FFFF != 0 { return 2 }
        return 1
    }
}

/// Dense ids for the n-grams of one evaluation: an open-addressing table with a multiplicative
/// hash, so that counting costs one cheap probe per n-gram and the scorers work on sorted
/// integer arrays without hashing at all.
struct NGramTable {
    private var heads: [UInt64]
    private var tails: [UInt64]
    private var slots: [Int32]  // -1 marks an empty slot
    private var mask: Int
    /// Word count (1…4) of each id.
    private(set) var orders: [UInt8] = []

    init(capacity: Int = 1 << 12) {
        var size = 16
        while size < capacity * 2 { size <<= 1 }
        heads = [UInt64](repeating: 0, count: size)
        tails = [UInt64](repeating: 0, count: size)
        slots = [Int32](repeating: -1, count: size)
        mask = size - 1
    }

    var count: Int { orders.count }

    mutating func id(of ngram: NGram) -> Int32 {
        var slot = Self.hash(ngram) & mask
        while true {
            let id = slots[slot]
            if id < 0 { break }
            if heads[slot] == ngram.head && tails[slot] == ngram.tail { return id }
            slot = (slot + 1) & mask
        }
        let id = Int32(orders.count)
        slots[slot] = id
        heads[slot] = ngram.head
        tails[slot] = ngram.tail
        orders.append(UInt8(ngram.order))
        if orders.count * 2 > slots.count { grow() }
        return id
    }

    private static func hash(_ ngram: NGram) -> Int {
        let mixed = (ngram.head &* 0x9E37_79B9_7F4A_7C15) ^ (ngram.tail &* 0xC2B2_AE3D_27D4_EB4F)
        return Int(truncatingIfNeeded: (mixed ^ (mixed >> 29)) &* 0xBF58_476D_1CE4_E5B9 >> 17)
    }

    private mutating func grow() {
        let (oldHeads, oldTails, oldSlots) = (heads, tails, slots)
        let size = slots.count * 2
        heads = [UInt64](repeating: 0, count: size)
        tails = [UInt64](repeating: 0, count: size)
        slots = [Int32](repeating: -1, count: size)
        mask = size - 1
        for index in oldSlots.indices where oldSlots[index] >= 0 {
            var slot = Self.hash(NGram(head: oldHeads[index], tail: oldTails[index])) & mask
            while slots[slot] >= 0 { slot = (slot + 1) & mask }
            slots[slot] = oldSlots[index]
            heads[slot] = oldHeads[index]
            tails[slot] = oldTails[index]
        }
    }
}

/// A sentence as pycocoevalcap's `precook` sees it: its word count and the counts of all its
/// 1- to 4-grams, as n-gram ids sorted ascending with their counts alongside.
struct CountedSentence {
    /// Number of words (`len(s.split())`).
    let length: Int
    /// Distinct n-gram ids, ascending.
    let ngrams: [Int32]
    /// `counts[i]` is how often `ngrams[i]` occurs.
    let counts: [Int32]

    init(words: [UInt32], table: inout NGramTable, maximumOrder: Int = 4) {
        length = words.count
        var occurrences: [Int32] = []
        occurrences.reserveCapacity(words.count * maximumOrder)
        for order in 1...maximumOrder where words.count >= order {
            for start in 0...(words.count - order) {
                occurrences.append(table.id(of: NGram(words[start..<(start + order)])))
            }
        }
        occurrences.sort()
        var ngrams: [Int32] = []
        var counts: [Int32] = []
        for id in occurrences {
            if ngrams.last == id {
                counts[counts.count - 1] += 1
            } else {
                ngrams.append(id)
                counts.append(1)
            }
        }
        self.ngrams = ngrams
        self.counts = counts
    }
}

/// Python's `str.split()` with no argument: splits on runs of Unicode whitespace (as
/// `str.isspace` defines it) and drops empty pieces. BLEU and CIDEr-D split this way.
func pythonWhitespaceSplit(_ text: String) -> [Substring] {
    var words: [Substring] = []
    var start: String.Index? = nil
    var index = text.startIndex
    let scalars = text.unicodeScalars
    while index < text.endIndex {
        let next = scalars.index(after: index)
        if isPythonWhitespace(scalars[index]) {
            if let s = start { words.append(text[s..<index]); start = nil }
        } else if start == nil {
            start = index
        }
        index = next
    }
    if let s = start { words.append(text[s..<text.endIndex]) }
    return words
}

/// Python's `str.split(" ")`: splits on every single ASCII space and keeps empty pieces, so an
/// empty caption is one empty token. ROUGE-L splits this way.
func pythonSpaceSplit(_ text: String) -> [Substring] {
    // On the UTF-8 view: a space byte is always a whole character, and this avoids grapheme breaking.
    text.utf8.split(separator: 0x20, omittingEmptySubsequences: false).map { Substring($0) }
}

/// `str.isspace()` for one code point (CPython's `_Py_ascii_whitespace` and `Py_UNICODE_ISSPACE`).
func isPythonWhitespace(_ scalar: Unicode.Scalar) -> Bool {
    switch scalar.value {
    case 0x09...0x0D, 0x1C...0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A,
         0x2028, 0x2029, 0x202F, 0x205F, 0x3000:
        return true
    default:
        return false
    }
}
