// libFuzzer harness for the safetensors reader (Sources/GlimpseSafeTensors), compiled
// into the module itself (`-module-name GlimpseSafeTensors`) so that the internal
// `SafeTensorsHeader.parse` is reachable. The input is a whole file.
//
// Beyond "no trap, no leak, no hang", it checks what the reader promises:
// - the header read from a prefix, as `SafeTensorsFile(contentsOf:)` does before it
//   reads the data, gives the same answer as the whole file;
// - every tensor of an accepted file reads back with its declared element count, the
//   way the app reads checkpoints (`floats(named:)`, `decodeFloats(named:into:)`);
// - an accepted file of F32 and I64 tensors survives a round trip through the writer.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSafeTensors(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let whole = headerOutcome(prefix: bytes, fileByteCount: bytes.count)
    checkPrefixAgrees(bytes, with: whole)
    // The same header against a file much larger than the input: only the layout check may differ.
    _ = headerOutcome(prefix: bytes, fileByteCount: bytes.count + (1 << 40))

    let file: SafeTensorsFile
    do {
        file = try SafeTensorsFile(bytes: bytes, path: "fuzz")
    } catch {
        require(error.path == "fuzz" && !error.description.isEmpty, "error without path or message")
        require(whole == .failure(error), "SafeTensorsFile and the header parse disagree: \(error) vs \(whole)")
        return 0
    }
    require(whole.succeeded, "SafeTensorsFile accepted what the header parse refused: \(whole)")
    readEveryTensor(file)
    roundTrip(file)
    return 0
}

/// The header parse as a comparable value.
enum HeaderOutcome: Equatable {
    case success(metadata: [String: String], entries: [SafeTensorsEntry], dataStart: Int)
    case failure(SafeTensorsError)

    var succeeded: Bool {
        if case .success = self { return true }
        return false
    }
}

func headerOutcome(prefix: [UInt8], fileByteCount: Int) -> HeaderOutcome {
    do {
        let header = try SafeTensorsHeader.parse(prefix: prefix, fileByteCount: fileByteCount, path: "fuzz")
        require(header.dataStart >= 8 && header.dataStart <= prefix.count, "data start \(header.dataStart) outside the prefix")
        return .success(metadata: header.metadata, entries: header.entries, dataStart: header.dataStart)
    } catch {
        _ = error.description
        return .failure(error)
    }
}

/// `SafeTensorsFile(contentsOf:)` reads the 8-byte length, then `8 + length` bytes,
/// and parses that prefix against the file's size: the answer must be the whole file's.
func checkPrefixAgrees(_ bytes: [UInt8], with whole: HeaderOutcome) {
    guard bytes.count >= 8 else { return }
    let declared = bytes[0..<8].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
    guard declared <= UInt64(SafeTensorsHeader.maximumByteCount) else { return }
    let prefix = Array(bytes.prefix(8 + Int(declared)))
    let partial = headerOutcome(prefix: prefix, fileByteCount: bytes.count)
    require(partial == whole, "prefix parse \(partial) differs from whole-file parse \(whole)")
}

/// Reads every tensor through each accessor that accepts its dtype, and checks that
/// the others refuse it with `wrongDType`.
func readEveryTensor(_ file: SafeTensorsFile) {
    require(file.names == file.entries.map(\.name), "names out of step with entries")
    for entry in file.entries {
        require(file.entry(named: entry.name) == entry, "lookup of '\(entry.name)' failed")
        require(entry.dataOffsets.count == entry.elementCount * entry.dtype.byteCount, "byte count of '\(entry.name)'")
        do {
            let raw = try file.rawBytes(named: entry.name)
            require(raw.count == entry.dataOffsets.count, "raw bytes of '\(entry.name)'")

            let isFloat = SafeTensorsDType.floatingPoint.contains(entry.dtype)
            switch Result(catching: { () throws(SafeTensorsError) in try file.floats(named: entry.name) }) {
            case .success(let array):
                require(isFloat && array.shape == entry.shape && array.values.count == entry.elementCount,
                        "floats of '\(entry.name)'")
                if entry.dtype == .float32 {
                    require(array.values.withUnsafeBytes { Array($0) } == raw, "F32 values of '\(entry.name)' differ from their bytes")
                }
                // As Checkpoint does: straight into storage of the tensor's size.
                let storage = UnsafeMutableBufferPointer<Float>.allocate(capacity: entry.elementCount)
                defer { storage.deallocate() }
                try file.decodeFloats(named: entry.name, into: storage)
                require(zip(storage, array.values).allSatisfy { $0.bitPattern == $1.bitPattern },
                        "decodeFloats and floats of '\(entry.name)' differ")
            case .failure(let error):
                require(!isFloat && isWrongDType(error), "floats of '\(entry.name)' failed: \(error)")
            }

            switch Result(catching: { () throws(SafeTensorsError) in try file.int64s(named: entry.name) }) {
            case .success(let array):
                require(entry.dtype == .int64 && array.values.count == entry.elementCount, "int64s of '\(entry.name)'")
                require(array.values.withUnsafeBytes { Array($0) } == raw, "I64 values of '\(entry.name)' differ from their bytes")
                let converted = try file.floats(named: entry.name, convertingIntegers: true)
                require(converted.values == array.values.map(Float.init), "converted I64 values of '\(entry.name)'")
            case .failure(let error):
                require(entry.dtype != .int64 && isWrongDType(error), "int64s of '\(entry.name)' failed: \(error)")
            }
        } catch {
            require(false, "reading '\(entry.name)' of an accepted file failed: \(error)")
        }
    }
    do {
        _ = try file.floats(named: "\u{0}not a tensor name\u{0}")
        require(file.entry(named: "\u{0}not a tensor name\u{0}") != nil, "a missing tensor was found")
    } catch {
        _ = error.description
    }
}

/// Writes an accepted file of F32 and I64 tensors back out and reads it again: the
/// same metadata, names, shapes, dtypes and bytes.
func roundTrip(_ file: SafeTensorsFile) {
    var tensors: [String: SafeTensorsWriter.Tensor] = [:]
    do {
        for entry in file.entries {
            switch entry.dtype {
            case .float32: tensors[entry.name] = .float32(try file.floats(named: entry.name))
            case .int64: tensors[entry.name] = .int64(try file.int64s(named: entry.name))
            default: return
            }
        }
        let rewritten = try SafeTensorsFile(bytes: SafeTensorsWriter.encode(tensors, metadata: file.metadata), path: "fuzz")
        require(rewritten.metadata == file.metadata, "metadata changed in a round trip")
        require(rewritten.names == file.names, "names changed in a round trip")
        for entry in file.entries {
            let again = rewritten.entry(named: entry.name)
            require(again?.dtype == entry.dtype && again?.shape == entry.shape, "'\(entry.name)' changed in a round trip")
            let (before, after) = (try file.rawBytes(named: entry.name), try rewritten.rawBytes(named: entry.name))
            require(before == after, "bytes of '\(entry.name)' changed in a round trip")
        }
    } catch {
        require(false, "round trip of an accepted file failed: \(error)")
    }
}

func isWrongDType(_ error: SafeTensorsError) -> Bool {
    if case .wrongDType = error.reason { return true }
    return false
}

/// A broken promise: report it and crash, so that libFuzzer saves the input.
func require(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String) {
    if !condition() { fatalError("SafeTensorsFuzzer: \(message())") }
}
