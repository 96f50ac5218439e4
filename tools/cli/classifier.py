"""`civicgrid classifier retrain --out PATH`: a new model file from the training corpus and the
city's corrections (issue 17); start the workers with CIVICGRID_CLASSIFIER_MODEL=PATH to use it.
"""

import asyncio
from pathlib import Path

import asyncpg
import click

from civicgrid.cli.common import database, reader_settings, verbose_option
from civicgrid.db.corrections import StoredCorrection, stored_corrections


@click.group("classifier")
def classifier_group() -> None:
    """The classifier's model files."""


@classifier_group.command("retrain")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="The model file (.npz) to write.",
)
@click.option(
    "--per-category",
    type=click.IntRange(min=1),
    default=None,
    help="Train on this many corpus examples per category (a quick check), not all of them.",
)
@click.option(
    "--cache",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The file of cached text vectors (default: build/e5-vectors.npz).",
)
@verbose_option
def retrain_command(out: Path, per_category: int | None, cache: Path | None, verbose: bool) -> None:
    """Train the head on the training corpus plus every correction in PostgreSQL."""
    # the training code (scikit-learn, the corpus) loads only for this command
    from civicgrid.domain.classifier import Classifier
    from civicgrid.domain.taxonomy import Taxonomy
    from tools.classifier_training import head, retrain
    from tools.classifier_training.vectors import CACHE, DiskCachedEncoder

    settings = reader_settings(verbose)
    with database(settings) as url:
        stored = asyncio.run(_read(url))
    corrections = [
        retrain.Correction(row.event_id, row.report_event_id, row.text, row.to_category)
        for row in stored
    ]
    base = retrain.corpus_sample(per_category)
    model = retrain.retrain(corrections, DiskCachedEncoder(cache or CACHE), base)
    Classifier(model, Taxonomy.load(settings.taxonomy_overrides))  # its labels are the city's
    head.save(model, out)
    click.echo(
        f"{model.meta['corrections']} corrected reports + {len(base)} corpus examples -> "
        f"{out} (head {model.version})"
    )


async def _read(url: str) -> list[StoredCorrection]:
    connection = await asyncpg.connect(url)
    try:
        return await stored_corrections(connection)
    finally:
        await connection.close()
