"""A TensorBoard DataProvider serving given data, for reader tests that need
what no event file gives: odd tensors, reads that fail, a count of reads."""

from tensorboard.data import provider as provider_lib


class FakeProvider:
    """Serves `data` ({run: {tag: [TensorDatum]}}) with plugin_data content
    `contents[(run, tag)]` (b"" when absent, as a provider that does not pass
    it along). Reading any of the `broken` (run, tag) pairs fails as a whole,
    as a provider's read does when it cannot turn one tensor into an array.
    `reads` counts the (run, tag) pairs each read_tensors call asked for."""

    def __init__(self, data, contents=None, broken=()):
        self.data, self.contents, self.broken = data, contents or {}, set(broken)
        self.reads = []

    def list_tensors(self, ctx, *, experiment_id, plugin_name, run_tag_filter=None):
        runs = run_tag_filter.runs if run_tag_filter is not None else None
        return {
            run: {tag: provider_lib.TensorTimeSeries(
                max_step=max((d.step for d in series), default=0), max_wall_time=0.0,
                plugin_content=self.contents.get((run, tag), b""), description="",
                display_name="") for tag, series in tags.items()}
            for run, tags in self.data.items() if runs is None or run in runs
        }

    def read_tensors(self, ctx, *, experiment_id, plugin_name, downsample=None,
                     run_tag_filter=None):
        assert downsample >= 1000  # the reader never lets a provider drop records
        runs, tags = run_tag_filter.runs, run_tag_filter.tags
        wanted = [(run, tag) for run, series_by_tag in self.data.items()
                  if runs is None or run in runs
                  for tag in series_by_tag if tags is None or tag in tags]
        self.reads.append(len(wanted))
        if self.broken & set(wanted):
            raise ValueError("buffer size must be a multiple of element size")
        out = {}
        for run, tag in wanted:
            out.setdefault(run, {})[tag] = self.data[run][tag]
        return out
