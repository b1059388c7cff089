import Foundation
import Testing
import GlimpseTensor

@Suite("glimpse info")
struct InfoCommandTests {
    @Test("a folder of good and bad files: every good file reported, one line per bad file, exit status 1")
    func mixedFolder() throws {
        let folder = try ScratchFolder()
        try folder.copy(fixture: "jpeg-exif-orientation-6.jpg", as: "phone.jpg")
        try folder.copy(fixture: "png-rgba16-adam7.png", as: "nested/deep.png")
        try folder.copy(fixture: "truncated.jpg", as: "cut.jpg")
        try folder.copy(fixture: "unsupported.gif", as: "anim.gif")
        try folder.copy(fixture: "png-gray8.png", as: "photo.jpeg")  // misnamed, still read as PNG
        try folder.write(Array("not an image\n".utf8), to: "notes.txt")

        let outcome = try ToolRunner.run(["info", folder.path])
        #expect(outcome.status == 1)
        let lines = outcome.outputLines
        #expect(lines.count == 3, "\(lines)")
        #expect(lines.contains("\(folder.path)/phone.jpg: JPEG, 23x37, 3 channels (YCbCr 4:2:0), 8-bit, orientation 6 (rotated 90 clockwise)"))
        #expect(lines.contains("\(folder.path)/nested/deep.png: PNG, 13x9, 4 channels (RGBA), 16-bit, orientation 1 (normal), interlaced"))
        #expect(lines.contains { $0.hasPrefix("\(folder.path)/photo.jpeg: PNG, 13x9") })
        let errors = outcome.errorLines
        #expect(errors.contains("\(folder.path)/cut.jpg: truncated JPEG file: Premature end of JPEG file"))
        #expect(errors.contains("\(folder.path)/anim.gif: unsupported format: GIF image (Glimpse reads JPEG and PNG)"))
        #expect(errors.contains("glimpse: skipped 1 file(s) in folders that are not images"))
        #expect(errors.contains("glimpse: 2 of 5 file(s) could not be read"))
    }

    @Test("files named explicitly are always reported, even when not images")
    func explicitFiles() throws {
        let folder = try ScratchFolder()
        try folder.write(Array("not an image\n".utf8), to: "notes.txt")
        try folder.copy(fixture: "png-palette4.png", as: "ok.png")
        let outcome = try ToolRunner.run(["info", folder.path + "/notes.txt", folder.path + "/ok.png", folder.path + "/missing.png"])
        #expect(outcome.status == 1)
        #expect(outcome.outputLines.count == 1)
        #expect(outcome.errorLines.contains("\(folder.path)/notes.txt: unsupported format: text file (Glimpse reads JPEG and PNG)"))
        #expect(outcome.errorLines.contains("\(folder.path)/missing.png: cannot read file: No such file or directory"))
    }

    @Test("all good files: exit status 0")
    func allGood() throws {
        let folder = try ScratchFolder()
        try folder.copy(fixture: "jpeg-cmyk-adobe.jpg", as: "a.jpg")
        try folder.copy(fixture: "png-palette8-trns.png", as: "b.png")
        let outcome = try ToolRunner.run(["info", folder.path])
        #expect(outcome.status == 0, "\(outcome.standardError)")
        #expect(outcome.outputLines.count == 2)
        #expect(outcome.standardError.isEmpty)
    }

    @Test("--json prints one object per file, errors included")
    func jsonLines() throws {
        let folder = try ScratchFolder()
        try folder.copy(fixture: "jpeg-gray.jpg", as: "g.jpg")
        try folder.copy(fixture: "huge-dimensions.png", as: "huge.png")
        let outcome = try ToolRunner.run(["info", "--json", folder.path])
        #expect(outcome.status == 1)
        let objects = try outcome.outputLines.map {
            try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
        #expect(objects.count == 2)
        let good = try #require(objects.first { ($0["path"] as? String)?.hasSuffix("g.jpg") == true })
        #expect(good["width"] as? Int == 37 && good["channels"] as? Int == 1 && good["format"] as? String == "JPEG")
        let bad = try #require(objects.first { ($0["path"] as? String)?.hasSuffix("huge.png") == true })
        #expect((bad["error"] as? String)?.hasPrefix("image too large") == true)
    }

    @Test("a bad flag is refused with a clear message")
    func badFlag() throws {
        let outcome = try ToolRunner.run(["info", "--max-pixels", "0", "x.png"])
        #expect(outcome.status != 0)
        #expect(outcome.standardError.contains("--max-pixels must be positive"))
        let none = try ToolRunner.run(["info"])
        #expect(none.status != 0)
    }
}

@Suite("glimpse info --system")
struct SystemInfoTests {
    /// The kernels the glimpse process runs with, from its JSON report.
    func kernels(environment: [String: String?]) throws -> (name: String, reason: String) {
        let outcome = try ToolRunner.run(["info", "--system", "--json"], environment: environment)
        #expect(outcome.status == 0, "\(outcome.standardError)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(outcome.standardOutput.utf8)) as? [String: Any])
        return (try #require(object["blas_kernels"] as? String), try #require(object["blas_kernels_reason"] as? String))
    }

    @Test("on a CPU with AVX2 + FMA the kernels in use are never a generic core, even when OPENBLAS_CORETYPE asks for one")
    func neverGenericOnCapableCPU() throws {
        let cpu = CPUInfo.current
        let plain = try kernels(environment: ["OPENBLAS_CORETYPE": nil, "GLIMPSE_BLAS_KERNELS": nil])
        let forcedGeneric = try kernels(environment: ["OPENBLAS_CORETYPE": "Prescott", "GLIMPSE_BLAS_KERNELS": nil])
        if cpu.hasAVX2FMA {
            #expect(BLASKernelLevel(coreName: plain.name) >= .avx2, "\(plain.name): \(plain.reason)")
            #expect(BLASKernelLevel(coreName: forcedGeneric.name) >= .avx2, "\(forcedGeneric.name): \(forcedGeneric.reason)")
            let preferred = try #require(BLAS.preferredCore(for: cpu))
            #expect(BLASKernelLevel(coreName: plain.name) == BLASKernelLevel(coreName: preferred), "\(plain.reason)")
        }
        #expect(!plain.reason.isEmpty)
    }

    @Test("GLIMPSE_BLAS_KERNELS=openblas keeps what OpenBLAS loaded; the text report names the CPU and the kernels")
    func overrideAndText() throws {
        let kept = try kernels(environment: ["OPENBLAS_CORETYPE": nil, "GLIMPSE_BLAS_KERNELS": "openblas"])
        let plain = try kernels(environment: ["OPENBLAS_CORETYPE": nil, "GLIMPSE_BLAS_KERNELS": nil])
        #expect(kept.reason.contains("GLIMPSE_BLAS_KERNELS=openblas"), "\(kept.reason)")
        if plain.name != kept.name {
            #expect(plain.reason.contains("OpenBLAS alone picked \(kept.name)"), "\(plain.reason)")
        }
        let named = try kernels(environment: ["OPENBLAS_CORETYPE": nil, "GLIMPSE_BLAS_KERNELS": "NoSuchCore"])
        #expect(named.reason.contains("not an OpenBLAS core name"), "\(named.reason)")
        let text = try ToolRunner.run(["info", "--system"])
        #expect(text.status == 0)
        #expect(text.outputLines.contains { $0.hasPrefix("CPU: ") && $0.contains(CPUInfo.current.vendor) })
        #expect(text.outputLines.contains { $0.hasPrefix("OpenBLAS ") && $0.contains(" kernels: ") })
        #expect(try ToolRunner.run(["info", "--system", "x.jpg"]).status != 0)
    }
}
