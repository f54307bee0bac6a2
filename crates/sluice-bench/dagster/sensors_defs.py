"""The Dagster twin of `sluice-bench serve-sensors`: SENSOR_COUNT sensors that skip at once,
each every 30 s, running by default. Used by sensors.sh."""
import os
import dagster as dg

COUNT = int(os.environ.get("SENSOR_COUNT", "1000"))

@dg.op
def noop():
    return 1

@dg.job
def noop_job():
    noop()

def make(i):
    @dg.sensor(name=f"sensor_{i:04d}", job=noop_job, minimum_interval_seconds=30,
               default_status=dg.DefaultSensorStatus.RUNNING)
    def s(context):
        return dg.SkipReason("nothing new")
    return s

defs = dg.Definitions(jobs=[noop_job], sensors=[make(i) for i in range(COUNT)])
