"""An exam's documents: per variant a question sheet and an answer key, one combined key for markers,
the manifest, and a Moodle XML quiz; every one rendered from the variants' traces.

Documents are built in memory, in order, before anything is written; PDFs are typeset on
several threads (pdflatex runs as a separate process), which leaves the bytes unchanged.
"""
from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Callable

from .exam import Variant, manifest
from .output import marked, typeset
from .render import render, render_keys, render_layer, render_question
from .variants import Template

FORMATS = ("md", "tex", "pdf", "moodle")


def file_names(count: int, formats: list[str]) -> list[str]:
    """Every file an exam of `count` variants writes, known before any is drawn (to check them first)."""
    width = max(3, len(str(count)))
    names = []
    for n in range(1, count + 1):
        names += [f"variant-{n:0{width}d}-{part}.{fmt}" for part in ("question", "key")
                  for fmt in formats if fmt != "moodle"]
    names += [f"keys.{fmt}" for fmt in formats if fmt != "moodle"]
    names += ["moodle.xml"] if "moodle" in formats else []
    return names + ["manifest.json"]


def exam_documents(template: Template, variants: list[Variant], seed: int, formats: list[str],
                   templates: Path | None = None, progress: Callable[[int, int], None] | None = None,
                   source: str = "", typesetting: Callable[[int, int], None] | None = None) -> dict[str, bytes]:
    """File name -> bytes, in the order `file_names` lists them."""
    settings = template.base.settings if template.key == "full" else replace(template.base.settings, detail="answers")
    text_formats = [f for f in ("md", "tex") if f in formats or (f == "tex" and "pdf" in formats)]
    documents: dict[str, str | bytes] = {}
    questions_md, keys_md = {}, {}
    for n, v in enumerate(variants, 1):
        key_trace = replace(v.trace, problem=replace(v.problem, title=f"{v.problem.title}, answer key"))
        for fmt in text_formats:
            question = render_question(v.trace, fmt, v.id, templates)
            key = render(key_trace, fmt, settings, templates)
            documents[f"variant-{v.id}-question.{fmt}"] = marked(question, f".{fmt}", source)
            documents[f"variant-{v.id}-key.{fmt}"] = marked(key, f".{fmt}", source)
        if "moodle" in formats:
            questions_md[v.id] = render_question(v.trace, "md", v.id, templates)
            keys_md[v.id] = {n: render_layer(v.trace, n, "md", settings, templates)
                             for n in range(1, len(v.trace.layers) + 1)}
        if progress:
            progress(n, len(variants))
    for fmt in text_formats:
        documents[f"keys.{fmt}"] = marked(render_keys(template.base.title, variants, fmt, settings, templates),
                                          f".{fmt}", source)
    if "pdf" in formats:
        sources = [name for name in documents if name.endswith(".tex")]
        done, lock = [0], threading.Lock()

        def pdf(name: str) -> bytes:
            data = typeset(documents[name], name[:-4] + ".pdf")
            with lock:  # one thread at a time redraws the bar
                done[0] += 1
                if typesetting:
                    typesetting(done[0], len(sources))
            return data
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            pdfs = list(pool.map(pdf, sources))
        documents.update({name[:-4] + ".pdf": pdf for name, pdf in zip(sources, pdfs)})
    if "moodle" in formats:
        from .moodle import moodle_xml
        xml = moodle_xml(template.base.title, variants, questions_md, keys_md, template.moodle)
        declaration, _, rest = xml.partition("\n")  # the mark goes after the XML declaration, which must be first
        documents["moodle.xml"] = f"{declaration}\n{marked('', '.xml', source)}{rest}"
    documents["manifest.json"] = manifest(template, seed, variants)
    order = file_names(len(variants), formats)
    return {name: (d if isinstance(d, bytes) else d.encode("utf-8"))
            for name in order for d in [documents[name]]}
