from jobpulse.hub.main import run

run()
