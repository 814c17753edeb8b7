from hotspot.cli import main

raise SystemExit(main())
