"""Background job status: what a tenant polls while a job runs on a worker."""
