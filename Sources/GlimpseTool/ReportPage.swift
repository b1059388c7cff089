import Foundation
import GlimpseImage
import GlimpseModel
import GlimpseTraining

/// The page of `glimpse report`: one self-contained HTML file (inline CSS, inline SVG charts,
/// images as data: URIs, no script and no external resource), so it opens offline and can be
/// mailed or archived alone.
enum ReportPage {
    /// One validation image with the best checkpoint's greedy caption.
    struct Example {
        /// The image's id in the dataset.
        var label: String
        /// data: URI of the image at panel size.
        var image: String?
        var caption: String?
        var logProbability: Double?
        var references: [String]
        /// Per word of the caption: the word and a data: URI of its attention over the image.
        var attention: [(word: String, overlay: String)] = []
        /// Why the image could not be captioned.
        var error: String?
    }

    /// A chart of the page: its anchor id, the SVG, and a note under it.
    struct Chart {
        var id: String
        var svg: String
        var note: String?
    }

    static let generatorTag = "<meta name=\"generator\" content=\"glimpse report\">"
    /// Points drawn per step chart at most (longer runs are averaged in runs of steps).
    static let pointsPerChart = 600

    /// - Parameters:
    ///   - examplesNote: why no (or fewer) validation images are shown, when that is so.
    static func page(history: RunHistory, examples: [Example], examplesNote: String?) -> String {
        let directory = history.layout.directory
        var html = """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8">\(generatorTag)
        <title>\(escape("Training report: " + directory))</title>
        <style>
        body{font-family:system-ui,sans-serif;margin:1.2em;background:#fafafa;color:#222;max-width:1180px}
        h1{font-size:1.5em;margin:.2em 0}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ddd}
        table{border-collapse:collapse;background:#fff}td,th{border:1px solid #ddd;padding:.25em .6em;text-align:left;vertical-align:top}
        th{background:#f0f0f0;font-weight:600}
        .notes{background:#fff4e5;border:1px solid #f0c36d;padding:.5em 1em .5em 2em}
        .status{font-size:1.05em}
        .charts{display:flex;flex-wrap:wrap;gap:12px}
        .charts figure{margin:0;background:#fff;border:1px solid #ddd}
        .charts figcaption{font-size:.8em;color:#666;padding:0 .5em .4em}
        .example{background:#fff;border:1px solid #ddd;border-radius:4px;padding:.6em;margin-bottom:.8em}
        .example .top{display:flex;gap:1em}
        .example img.image{display:block;align-self:flex-start}
        .caption{font-size:1.1em;font-weight:600}
        .refs{margin:.3em 0 0 1.2em;padding:0;color:#444}
        .strip{display:flex;flex-wrap:wrap;gap:6px;margin-top:.5em}
        .strip figure{margin:0;text-align:center;font-size:.85em}
        .strip img{display:block}
        .muted{color:#666;font-size:.85em}
        .error{color:#b00020}
        code{word-break:break-all}
        .tables{display:flex;flex-wrap:wrap;gap:2em;align-items:flex-start}
        </style></head><body>
        <h1>Training report</h1>
        <p><code>\(escape(directory))</code></p>

        """
        html += "<p class=\"status\"><b>Status:</b> \(escape(status(history)))</p>\n"
        if !history.notes.isEmpty {
            html += "<ul class=\"notes\" id=\"missing\">" + history.notes.map { "<li>\(escape($0))</li>" }.joined() + "</ul>\n"
        }
        html += summary(history)

        html += "<h2 id=\"charts\">Training curves</h2>\n"
        let charts = self.charts(history)
        if charts.isEmpty {
            html += "<p class=\"muted\">No step or validation has been logged yet.</p>\n"
        } else {
            html += "<div class=\"charts\">\n"
            for chart in charts {
                html += "<figure id=\"chart-\(chart.id)\">\(chart.svg)"
                if let note = chart.note { html += "<figcaption>\(escape(note))</figcaption>" }
                html += "</figure>\n"
            }
            html += "</div>\n"
        }

        html += "<h2 id=\"validation\">Validation images</h2>\n"
        html += "<p class=\"muted\">Greedy captions of the best checkpoint (as validation makes them), the reference captions, "
            + "and where the model looked for each word (brighter: more attention).</p>\n"
        if let examplesNote { html += "<p class=\"notes\">\(escape(examplesNote))</p>\n" }
        for example in examples { html += self.example(example) }

        html += configuration(history)
        html += "</body></html>\n"
        return html
    }

    /// The run's state in one sentence.
    static func status(_ history: RunHistory) -> String {
        if case .held(let holder) = history.trainer {
            return "still training (\(holder?.description ?? "its process is not listed")); this page shows it as of now, "
                + "at step \(history.stepsDone)"
        }
        return history.stopReason
    }

    // MARK: Summary and configuration

    static func summary(_ history: RunHistory) -> String {
        var rows: [(String, String)] = []
        let configuration = history.configuration
        if let configuration {
            rows.append(("Dataset", "\(configuration.dataset) (\(configuration.datasetFormat)): "
                         + count(configuration.trainingImages, "training image") + ", "
                         + count(configuration.validationImages, "validation image")))
            rows.append(("Model", modelDescription(configuration.model)))
            rows.append(("Vocabulary", "\(configuration.model.vocabularySize) tokens (words seen at least "
                         + "\(configuration.minimumWordCount) time\(configuration.minimumWordCount == 1 ? "" : "s"))"))
        }
        let planned = configuration?.options.epochs.map { " of \($0)" } ?? ""
        rows.append(("Progress", count(history.stepsDone, "step") + ", "
                     + "\(history.epochsDone)\(planned) epoch\((configuration?.options.epochs ?? history.epochsDone) == 1 ? "" : "s") completed"))
        if let best = history.bestCheckpoint {
            var text = best
            if let record = history.bestValidation {
                text += " — epoch \(record.epoch), step \(record.step)"
                if let score = history.bestScore { text += ", " + score.name + " " + format(score.value) }
                if let cider = record.ciderD, history.bestScore?.name != "CIDEr-D" { text += ", CIDEr-D " + format(cider) }
                if let bleu = record.bleu4 { text += ", BLEU-4 " + format(bleu) }
            }
            rows.append(("Best checkpoint", text))
        } else {
            rows.append(("Best checkpoint", "none yet"))
        }
        if let last = history.validationRecords.last, last.validationImages != nil {
            var parts: [String] = []
            if let bleu = last.bleu4 { parts.append("BLEU-4 " + format(bleu)) }
            if let cider = last.ciderD { parts.append("CIDEr-D " + format(cider)) }
            if let content = last.content { parts.append("exact match " + format(content.exactMatch)) }
            rows.append(("Last validation", "epoch \(last.epoch), step \(last.step): " + parts.joined(separator: ", ")))
        }
        let speeds = history.stepRecords.compactMap(\.imagesPerSecond).sorted()
        if !speeds.isEmpty { rows.append(("Speed", String(format: "%.1f images/s (median step)", speeds[speeds.count / 2]))) }
        return "<h2 id=\"summary\">Summary</h2>\n<table>" + rows.map { "<tr><th>\(escape($0.0))</th><td>\(escape($0.1))</td></tr>" }.joined()
            + "</table>\n"
    }

    static func modelDescription(_ model: ModelConfiguration) -> String {
        var encoder: String
        if let pretrained = model.pretrainedEncoder {
            encoder = "\(pretrained.architecture.rawValue) encoder, \(pretrained.gridSize)×\(pretrained.gridSize) grid, "
                + (pretrained.trainableFromStage.map { "stages \($0)–4 trained" } ?? "frozen")
        } else {
            encoder = "small CNN encoder (channels \(model.stageChannels.map(String.init).joined(separator: ", "))), "
                + "\(model.gridSize)×\(model.gridSize) grid"
        }
        return "\(model.imageSize)×\(model.imageSize) input, " + encoder
            + "; embedding \(model.embeddingSize), attention \(model.attentionSize), LSTM \(model.hiddenSize)"
    }

    /// Every option of config.json, and the model configuration, as tables.
    static func configuration(_ history: RunHistory) -> String {
        guard let configuration = history.configuration else {
            return "<h2 id=\"configuration\">Configuration</h2>\n<p class=\"muted\">Not known: config.json is missing.</p>\n"
        }
        func table(_ object: Any) -> String {
            guard let fields = object as? [String: Any] else { return "" }
            return "<table>" + fields.keys.sorted().map { key in
                "<tr><th>\(escape(key))</th><td><code>\(escape(json(fields[key]!)))</code></td></tr>"
            }.joined() + "</table>"
        }
        return "<h2 id=\"configuration\">Configuration</h2>\n"
            + "<p class=\"muted\">From config.json: the options the run was started with (a resumed run keeps them, "
            + "but for its stopping conditions and threads), and the model they made.</p>\n"
            + "<div class=\"tables\"><div><h3>Options</h3>\n" + table(JSONText.object(configuration.options)) + "</div>\n"
            + "<div><h3>Model</h3>\n" + table(JSONText.object(configuration.model)) + "</div></div>\n"
    }

    // MARK: Charts

    /// A chart for each quantity the run logged; nothing for those it did not.
    static func charts(_ history: RunHistory) -> [Chart] {
        var charts: [Chart] = []
        let steps = history.stepRecords
        func stepChart(_ id: String, _ title: String, _ axis: String, _ value: (LogRecord) -> Double?) {
            let points = steps.compactMap { record in value(record).map { (x: Double(record.step), y: $0) } }
            guard !points.isEmpty else { return }
            let (thinned, every) = SVGLineChart.thinned(points, limit: pointsPerChart)
            let chart = SVGLineChart(title: title, xLabel: "step", yLabel: axis,
                                     series: [.init(name: axis, points: thinned, color: SVGLineChart.lineColor)])
            charts.append(Chart(id: id, svg: chart.svg(), note: every > 1 ? "each point: the mean of \(every) steps" : nil))
        }
        stepChart("loss", "Training loss", "loss") { $0.loss.map(Double.init) }
        stepChart("cross-entropy", "Cross-entropy", "cross-entropy (nats/word)") { $0.crossEntropy.map(Double.init) }
        stepChart("attention-penalty", "Attention penalty", "penalty") { $0.attentionPenalty.map(Double.init) }
        stepChart("word-detection", "Word-detection loss", "loss") { $0.wordDetection.map(Double.init) }
        stepChart("reward", "Self-critical reward", "mean CIDEr-D of samples") { $0.reward }
        stepChart("gradient-norm", "Gradient norm", "norm") { $0.gradientNorm.map(Double.init) }
        stepChart("learning-rate", "Learning rate", "rate") { $0.learningRate }

        let validations = history.validationRecords
        let best = history.bestValidation
        func validationChart(_ id: String, _ title: String, _ axis: String, _ value: (LogRecord) -> Double?) {
            let scored = validations.compactMap { record in value(record).map { (record, $0) } }
            guard !scored.isEmpty else { return }
            let highlighted = best.flatMap { best in scored.lastIndex { $0.0.step == best.step && $0.0.epoch == best.epoch } }
            let chart = SVGLineChart(title: title, xLabel: "step", yLabel: axis,
                                     series: [.init(name: axis, points: scored.map { (Double($0.0.step), $0.1) },
                                                    color: SVGLineChart.lineColor, markers: true, highlighted: highlighted)])
            charts.append(Chart(id: id, svg: chart.svg(),
                                note: "one point per validation" + (highlighted != nil ? "; ringed: the best checkpoint" : "")))
        }
        validationChart("bleu4", "Validation BLEU-4", "BLEU-4") { $0.bleu4 }
        validationChart("cider-d", "Validation CIDEr-D", "CIDEr-D") { $0.ciderD }
        validationChart("exact-match", "Validation exact match (content)", "share of captions") { $0.content?.exactMatch }
        validationChart("epoch-loss", "Mean training loss per epoch (no validation split)", "loss") {
            $0.validationImages == nil ? $0.loss.map(Double.init) : nil
        }
        return charts
    }

    // MARK: Examples

    static func example(_ example: Example) -> String {
        var html = "<div class=\"example\"><div class=\"top\">"
        if let image = example.image {
            html += "<img class=\"image\" src=\"\(image)\" alt=\"\(escape(example.label))\">"
        }
        html += "<div><div class=\"muted\">\(escape(example.label))</div>"
        if let caption = example.caption {
            html += "<div class=\"caption\">\(escape(caption))"
            if let logProbability = example.logProbability {
                html += " <span class=\"muted\">(log-probability \(String(format: "%.2f", logProbability)))</span>"
            }
            html += "</div>"
        }
        if let error = example.error { html += "<div class=\"error\">\(escape(error))</div>" }
        if !example.references.isEmpty {
            html += "<div class=\"muted\">references:</div><ul class=\"refs\">"
                + example.references.map { "<li>\(escape($0))</li>" }.joined() + "</ul>"
        }
        html += "</div></div>"
        if !example.attention.isEmpty {
            html += "<div class=\"strip\">" + example.attention.map { item in
                "<figure><img src=\"\(item.overlay)\" alt=\"attention for \(escape(item.word))\"><figcaption>\(escape(item.word))</figcaption></figure>"
            }.joined() + "</div>"
        }
        return html + "</div>\n"
    }

    /// An image as a data: URI (JPEG: a fraction of PNG's size for photographs and heat-maps).
    static func dataURI(_ image: RGBImage) throws(ImageWritingError) -> String {
        "data:image/jpeg;base64," + Data(try JPEGWriter.encode(image, quality: 85)).base64EncodedString()
    }

    /// A JSON value as config.json writes it (a string quoted, a list in brackets, null).
    static func json(_ value: Any) -> String {
        guard let data = try? JSONSerialization.data(withJSONObject: value, options: [.fragmentsAllowed, .sortedKeys, .withoutEscapingSlashes])
        else { return "\(value)" }
        return String(decoding: data, as: UTF8.self)
    }

    /// "1 image", "2 images".
    static func count(_ number: Int, _ noun: String) -> String { "\(number) \(noun)\(number == 1 ? "" : "s")" }

    static func format(_ value: Double) -> String { String(format: "%.4f", value) }

    static func escape<Text: StringProtocol>(_ text: Text) -> String { HTMLGallery.escape(String(text)) }
}
