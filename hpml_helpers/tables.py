"""Tables for learners: every table the kit shows is a pandas DataFrame (Jupyter renders it as HTML).

``table(rows, columns=None, index=None)`` turns a list of dicts or of dataclass objects into a DataFrame
with the columns in the order given, and ``rename`` maps field names to the headings a learner reads.
Used by every module that shows results as a table (cost, ablation, large_batch, transfer, roofline, training_speed,
distributed) and by the notebook-execution tooling.
"""
import dataclasses


def _as_dict(row):
    if dataclasses.is_dataclass(row) and not isinstance(row, type):
        return dataclasses.asdict(row)
    if isinstance(row, dict):
        return dict(row)
    raise TypeError(f"rows must hold dicts or dataclass objects, got {type(row).__name__}")


def table(rows, columns=None, rename=None, index=None):
    """A DataFrame of ``rows`` (dicts or dataclasses), keeping ``columns`` (all when None) in that order,
    headings renamed by ``rename`` ({field: heading}) and ``index`` (a column) as the row labels."""
    import pandas as pd

    if isinstance(rows, (str, bytes, dict)) or not hasattr(rows, "__iter__"):
        raise TypeError(f"rows must be a list of dicts or dataclass objects, got {type(rows).__name__}")
    records = [_as_dict(row) for row in rows]
    if columns is not None and (isinstance(columns, (str, bytes, dict)) or not hasattr(columns, "__iter__")):
        raise TypeError(f"columns must be a list of column names, got {columns!r}")
    if rename is not None and not isinstance(rename, dict):
        raise TypeError(f"rename must be a dict {{field: heading}}, got {rename!r}")
    frame = pd.DataFrame.from_records(records)
    if columns is not None:
        missing = [column for column in columns if column not in frame.columns and records]
        if missing:
            raise ValueError(f"columns {missing} are not in the rows (they have {list(frame.columns)})")
        frame = frame.reindex(columns=list(columns))
    if index is not None:
        if not isinstance(index, str) or (records and index not in frame.columns):
            raise ValueError(f"index must be the name of one column, one of {list(frame.columns)}; got {index!r}")
        frame = frame.set_index(index)
    if rename:
        frame = frame.rename(columns=rename)
    return frame
