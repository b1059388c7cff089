import Foundation
import GlimpseImage
import Testing
@testable import GlimpseTool
#if canImport(Glibc)
import Glibc
#endif

/// `glimpse report RUN_DIR`: one self-contained page per run, rendered by a real browser.
@Suite("glimpse report")
struct ReportCommandTests {
    /// A Karpathy-layout dataset of 16 tiny images, 4 of them in the validation split (its own
    /// split, so the test knows which); one validation reference caption carries markup.
    static let hostileCaption = "a square <script>alert('x')</script> & \"more\""

    static func dataset(in scratch: ScratchFolder) throws -> String {
        let folder = scratch.path + "/data"
        try FileManager.default.createDirectory(atPath: folder + "/images", withIntermediateDirectories: true)
        let colors: [(String, (UInt8, UInt8, UInt8))] = [("red", (220, 30, 30)), ("blue", (30, 60, 220))]
        var entries: [[String: Any]] = []
        for index in 0..<16 {
            let (name, color) = colors[index % 2]
            let left = index % 4 < 2
            var image = RGBImage(width: 32, height: 32, fill: (240, 240, 240))
            for y in 10..<22 { for x in (left ? 2 : 18)..<(left ? 14 : 30) {
                let offset = 3 * (y * 32 + x)
                (image.pixels[offset], image.pixels[offset + 1], image.pixels[offset + 2]) = color
            } }
            let file = String(format: "img-%02d.png", index)
            try PNGWriter.write(image, to: folder + "/images/" + file)
            var sentences = ["a \(name) square on the \(left ? "left" : "right")", "a \(name) square"]
            if index == 12 { sentences.append(hostileCaption) }
            entries.append(["filename": file, "split": index >= 12 ? "val" : "train", "sentences": sentences.map { ["raw": $0] }])
        }
        try JSONSerialization.data(withJSONObject: ["images": entries]).write(to: URL(fileURLWithPath: folder + "/dataset_tiny.json"))
        return folder
    }

    static let tinyModel = ["--image-size", "16", "--stage-channels", "4,8", "--embedding-size", "8", "--attention-size", "8",
                            "--hidden-size", "16", "--batch-size", "4", "--threads", "1", "--min-count", "1"]

    /// Two epochs of three steps: a second or two.
    static func trainedRun(in scratch: ScratchFolder) throws -> String {
        let run = scratch.path + "/run"
        let outcome = try ToolRunner.run(["train", try dataset(in: scratch), "--out", run, "--epochs", "2"] + tinyModel, timeout: 120)
        #expect(outcome.status == 0, "\(outcome.standardError)")
        return run
    }

    @Test("a finished run's page holds its curves, configuration and captioned validation images, and needs nothing else")
    func finishedRun() throws {
        let scratch = try ScratchFolder()
        let run = try Self.trainedRun(in: scratch)
        let outcome = try ToolRunner.run(["report", run, "--images", "3"], timeout: 120)
        #expect(outcome.status == 0, "\(outcome.standardError)")
        #expect(outcome.standardOutput.hasPrefix("\(run)/report.html: 7 charts, 3 validation images with attention, "),
                "\(outcome.standardOutput)")
        #expect(outcome.standardOutput.hasSuffix("; completed 2 epochs\n"), "\(outcome.standardOutput)")
        #expect(outcome.standardError.isEmpty, "\(outcome.standardError)")
        let html = try String(contentsOfFile: run + "/report.html", encoding: .utf8)

        // Self-contained: every image inline, and no address anywhere else.
        let text = html.replacing(/data:image\/jpeg;base64,[A-Za-z0-9+\/=]+/, with: "data:")
        for external in ["http:", "https:", "//", "<link", "<script", "url(", "@import", "<iframe", "<object"] {
            #expect(!text.contains(external), "the page contains \(external)")
        }
        let sources = html.components(separatedBy: "src=\"").dropFirst()
        #expect(sources.count > 3)
        #expect(sources.allSatisfy { $0.hasPrefix("data:image/jpeg;base64,") })

        // A chart for every quantity the run logged, each an SVG with a drawn line.
        for id in ["loss", "cross-entropy", "attention-penalty", "gradient-norm", "learning-rate", "bleu4", "cider-d"] {
            let chart = try #require(html.range(of: "<figure id=\"chart-\(id)\"><svg"), "no chart \(id)")
            let body = html[chart.upperBound...].prefix { _ in true }
            let end = try #require(body.range(of: "</svg>"))
            #expect(body[..<end.lowerBound].contains("<polyline class=\"series\""), "chart \(id) has no line")
        }
        // Three validation images (of four), each with its caption and one overlay per word.
        #expect(html.components(separatedBy: "<div class=\"example\">").count - 1 == 3)
        #expect(html.contains("img-12.png") && html.contains("img-14.png") && !html.contains("img-15.png"))
        #expect(html.contains("alt=\"attention for "))
        // Markup in a caption is shown as text, not interpreted.
        #expect(html.contains("a square &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;more&quot;"))
        // The configuration, the best checkpoint and how the run ended.
        #expect(html.contains("<th>Best checkpoint</th><td>\(run)/best.safetensors — epoch "))
        #expect(html.contains("<b>Status:</b> completed 2 epochs"))
        #expect(html.contains("<th>imagesPerBatch</th><td><code>4</code>"))
        #expect(html.contains("<th>Vocabulary</th>"))

        // A dataset moved since training is said so, and found again with --dataset; the page is replaced.
        try FileManager.default.moveItem(atPath: scratch.path + "/data", toPath: scratch.path + "/moved")
        let moved = try ToolRunner.run(["report", run, "--images", "1"], timeout: 120)
        #expect(moved.status == 0, "\(moved.standardError)")
        #expect(moved.standardError.contains("glimpse: note: No validation images: the dataset cannot be read ("), "\(moved.standardError)")
        #expect(moved.standardError.contains("give its folder with --dataset"), "\(moved.standardError)")
        let found = try ToolRunner.run(["report", run, "--images", "1", "--dataset", scratch.path + "/moved"], timeout: 120)
        #expect(found.status == 0 && found.standardError.isEmpty, "\(found.standardError)")
        let page = try String(contentsOfFile: run + "/report.html", encoding: .utf8)
        #expect(page.components(separatedBy: "<div class=\"example\">").count - 1 == 1)
    }

    // MARK: Rendering in a browser

    /// Set by .ci/run: the browser test must run there, never be skipped.
    static let chromiumRequired = ProcessInfo.processInfo.environment["GLIMPSE_REQUIRE_CHROMIUM"] == "1"
    static let chromiumNames = ["chromium", "chromium-headless-shell", "chromium-browser"]
    static let chromium: String? = {
        let folders = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":")
        for name in chromiumNames {
            for folder in folders where FileManager.default.isExecutableFile(atPath: "\(folder)/\(name)") { return "\(folder)/\(name)" }
        }
        return nil
    }()

    @Test("the page renders in headless Chromium, offline: a full-size screenshot with the charts' lines",
          .enabled(if: chromium != nil || chromiumRequired,
                   "no chromium on PATH (apt-get install chromium); with GLIMPSE_REQUIRE_CHROMIUM=1 this is a failure"))
    func rendersInChromium() throws {
        let browser = try #require(Self.chromium, "GLIMPSE_REQUIRE_CHROMIUM=1 but none of \(Self.chromiumNames) is on PATH")
        let scratch = try ScratchFolder()
        let run = try Self.trainedRun(in: scratch)
        let page = scratch.path + "/page.html"
        let report = try ToolRunner.run(["report", run, "--output", page, "--images", "2"], timeout: 120)
        #expect(report.status == 0, "\(report.standardError)")

        let screenshot = scratch.path + "/screenshot.png"
        // Every host name resolves to nothing, so the page must render without a network.
        let outcome = try ToolRunner.run([
            "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
            "--user-data-dir=\(scratch.path)/profile", "--host-resolver-rules=MAP * ~NOTFOUND",
            "--window-size=1200,2000", "--screenshot=\(screenshot)", URL(fileURLWithPath: page).absoluteString,
        ], environment: ["HOME": scratch.path], timeout: 90, program: browser)
        #expect(outcome.status == 0 && !outcome.timedOut, "\(outcome.standardError.suffix(2000))")

        let image = try ImageDecoder().decode(contentsOf: screenshot).image
        #expect(image.width == 1200 && image.height == 2000)
        // Not blank: most of the page is its background, but text, tables and charts cover much of the rest.
        var background = 0, chartLine = 0, colors = Set<Int>()
        for offset in stride(from: 0, to: image.pixels.count, by: 3) {
            let (red, green, blue) = (image.pixels[offset], image.pixels[offset + 1], image.pixels[offset + 2])
            if red == 0xFA && green == 0xFA && blue == 0xFA { background += 1 }
            // SVGLineChart.lineColor, #1f77b4, inside the drawn lines (their edges are blended).
            if abs(Int(red) - 0x1F) <= 3 && abs(Int(green) - 0x77) <= 3 && abs(Int(blue) - 0xB4) <= 3 { chartLine += 1 }
            colors.insert(Int(red) << 16 | Int(green) << 8 | Int(blue))
        }
        let pixels = image.width * image.height
        #expect(background > pixels / 5, "the page background covers \(background) of \(pixels) pixels")
        #expect(background < pixels * 9 / 10, "the page looks empty: background on \(background) of \(pixels) pixels")
        #expect(chartLine > 500, "only \(chartLine) pixels of the chart line colour")
        #expect(colors.count > 100, "only \(colors.count) colours on the page")
    }

    // MARK: Partial runs and refusals

    @Test("a run that diverged before any checkpoint gets a page saying what is missing and why it stopped")
    func divergedRun() throws {
        let scratch = try ScratchFolder()
        let run = scratch.path + "/run"
        // Adam moves every weight by about the learning rate: 1e30 makes the second step's loss overflow.
        let train = try ToolRunner.run(["train", try Self.dataset(in: scratch), "--out", run, "--epochs", "1",
                                        "--learning-rate", "1e30"] + Self.tinyModel, timeout: 120)
        #expect(train.status == 1, "\(train.standardError)")
        let outcome = try ToolRunner.run(["report", run], timeout: 60)
        #expect(outcome.status == 0, "\(outcome.standardError)")
        #expect(outcome.errorLines.contains { $0.hasPrefix("glimpse: note: no best checkpoint (best.safetensors)") },
                "\(outcome.standardError)")
        let html = try String(contentsOfFile: run + "/report.html", encoding: .utf8)
        // The status is the reason the run logged when it stopped.
        let log = try String(contentsOfFile: run + "/log.jsonl", encoding: .utf8).split(separator: "\n")
        let stop = try #require(try JSONSerialization.jsonObject(with: Data(log.last!.utf8)) as? [String: Any])
        #expect(stop["kind"] as? String == "stop")
        let reason = try #require(stop["reason"] as? String)
        #expect(html.contains("<b>Status:</b> \(HTMLGallery.escape(reason))"), "\(html.prefix(3000))")
        #expect(html.contains("<figure id=\"chart-loss\">"))
        #expect(html.contains("No validation images: the run has no best checkpoint yet"))
        #expect(html.contains("<th>Best checkpoint</th><td>none yet</td>"))
    }

    @Test("a run still training is reported as such, naming its process; what it has not written yet is said")
    func runInProgress() throws {
        let scratch = try ScratchFolder()
        let run = scratch.path + "/run"
        try scratch.write(Array("""
            {"cross_entropy":3.5,"epoch":1,"kind":"step","loss":4.5,"step":1}
            {"cross_entropy":3.25,"epoch":1,"kind":"step","loss":4.25,"step":2}

            """.utf8), to: "run/log.jsonl")
        // This test process plays the training run: it holds the log's lock as a run does.
        let descriptor = open(run + "/log.jsonl", O_WRONLY | O_APPEND)
        #expect(descriptor >= 0 && flock(descriptor, LOCK_EX | LOCK_NB) == 0)
        defer { close(descriptor) }
        let outcome = try ToolRunner.run(["report", run], timeout: 60)
        #expect(outcome.status == 0, "\(outcome.standardError)")
        #expect(outcome.standardOutput.contains("still training (process \(getpid())"), "\(outcome.standardOutput)")
        #expect(outcome.standardError.contains("glimpse: note: config.json is missing"), "\(outcome.standardError)")
        let html = try String(contentsOfFile: run + "/report.html", encoding: .utf8)
        #expect(html.contains("<b>Status:</b> still training (process \(getpid())"))
        #expect(html.contains("<figure id=\"chart-cross-entropy\">") && !html.contains("chart-bleu4"))
    }

    @Test("what is not a run folder, a damaged log, and a page that is not a report are refused, named")
    func refusals() throws {
        let scratch = try ScratchFolder()
        try scratch.write([], to: "empty/.keep")
        try scratch.write(Array("x".utf8), to: "file")
        try scratch.write(Array("{\"kind\":\"step\"\n{\"epoch\":1,\"kind\":\"step\",\"step\":1}\n".utf8), to: "damaged/log.jsonl")
        try scratch.write(Array("{\"epoch\":1,\"kind\":\"step\",\"step\":1}\n".utf8), to: "run/log.jsonl")
        try scratch.write(Array("my notes".utf8), to: "notes.html")
        let cases: [([String], String)] = [
            (["report", scratch.path + "/empty"], "\(scratch.path)/empty: not a training run folder (it has neither config.json nor log.jsonl)"),
            (["report", scratch.path + "/file"], "\(scratch.path)/file: not a folder"),
            (["report", scratch.path + "/damaged"], "\(scratch.path)/damaged/log.jsonl: cannot read: line 1 is not a log record"),
            (["report", scratch.path + "/run", "--output", scratch.path + "/notes.html"],
             "\(scratch.path)/notes.html: exists and is not a page of an earlier glimpse report"),
        ]
        for (arguments, message) in cases {
            let outcome = try ToolRunner.run(arguments, timeout: 60)
            #expect(outcome.status == 1, "\(arguments)")
            #expect(outcome.standardError.hasPrefix("glimpse: " + message), "\(outcome.standardError)")
        }
        #expect(try String(contentsOfFile: scratch.path + "/notes.html", encoding: .utf8) == "my notes")
    }
}

@Suite("SVG line charts")
struct SVGLineChartTests {
    @Test("ticks are round numbers covering the data", arguments: [
        (0.37, 4.2, false, [0.0, 1, 2, 3, 4, 5]),
        (3.715, 3.752, false, [3.71, 3.72, 3.73, 3.74, 3.75, 3.76]),
        (1.0, 9.0, true, [0.0, 2, 4, 6, 8, 10]),
        (1.0, 3.0, true, [1.0, 2, 3]),
        (0.0, 0.0, false, [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]),
        (5.0, 5.0, true, [4.0, 5, 6]),
    ])
    func ticks(low: Double, high: Double, integral: Bool, expected: [Double]) {
        let ticks = SVGLineChart.ticks(from: low, to: high, count: integral ? 6 : 5, integral: integral)
        #expect(ticks.count == expected.count && zip(ticks, expected).allSatisfy { abs($0 - $1) < 1e-9 }, "\(ticks)")
    }

    @Test("labels carry the decimals that tell the ticks apart, and never read -0")
    func labels() {
        #expect(SVGLineChart.decimals(for: [0, 0.5, 1]) == 1)
        #expect(SVGLineChart.decimals(for: [3.71, 3.72]) == 2)
        #expect(SVGLineChart.decimals(for: [0, 200, 400]) == 0)
        #expect(SVGLineChart.label(-0.0001, decimals: 2) == "0.00")
    }

    @Test("a chart draws its finite points, titles both axes, and rings the highlighted point")
    func chart() {
        let chart = SVGLineChart(title: "Loss <1>", xLabel: "step", yLabel: "loss",
                                 series: [.init(name: "loss", points: [(1, 4), (2, .nan), (3, 2)], color: SVGLineChart.lineColor,
                                                highlighted: 2)])
        let svg = chart.svg()
        #expect(svg.contains("<title>Loss &lt;1&gt;</title>"))
        #expect(svg.contains(">step</text>") && svg.contains(">loss</text>"))
        let line = svg.components(separatedBy: "points=\"")[1].prefix { $0 != "\"" }
        let coordinates = line.split(separator: " ").map { $0.split(separator: ",").compactMap { Double($0) } }
        #expect(coordinates.count == 2 && coordinates.allSatisfy { $0.count == 2 && $0.allSatisfy(\.isFinite) }, "\(line)")
        #expect(svg.contains("r=\"7\""))
    }

    @Test("long step series are averaged in runs, to a bounded number of points")
    func thinning() {
        let points = (1...1000).map { (x: Double($0), y: Double($0 % 2)) }
        let (thinned, every) = SVGLineChart.thinned(points, limit: 300)
        #expect(every == 4 && thinned.count == 250)
        #expect(thinned.allSatisfy { $0.y == 0.5 })
    }
}
