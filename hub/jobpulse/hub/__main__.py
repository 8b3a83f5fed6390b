from jobpulse.hub.main import main

raise SystemExit(main())
